import AppExchange
import Foundation
import LinuxSystem
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// FileChunk, the read behind TLS file regions and HTTP/2 static bodies: real files in a
/// temporary directory, read with pread.
@Suite struct FileChunkTests {
    /// A file holding `bytes` in a fresh temporary directory, opened with `flags`.
    private final class TempFile {
        let directory: URL
        let path: String
        let fd: Int32

        init(_ bytes: [UInt8], flags: Int32 = O_RDONLY) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-chunk-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
            path = directory.appendingPathComponent("body.bin").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            fd = open(path, flags | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError(call: "open", object: path, errno: errno) }
        }

        deinit {
            close(fd)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private static let content = (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }

    private static func read(_ file: TempFile, at offset: Int64, remaining: Int64) throws(SystemError) -> [UInt8] {
        let buffer = try FileChunk.read(file.fd, at: offset, remaining: remaining, object: "body.bin", allocator: ByteBufferAllocator())
        return Array(buffer.readableBytesView)
    }

    @Test func aSmallFileIsReadWhole() throws {
        let file = try TempFile(Array(Self.content[..<10_000]))
        #expect(try Self.read(file, at: 0, remaining: 10_000) == Array(Self.content[..<10_000]))
    }

    @Test func oneReadTakesAtMostOneChunk() throws {
        let file = try TempFile(Self.content)
        let first = try Self.read(file, at: 0, remaining: Int64(Self.content.count))
        #expect(first == Array(Self.content[..<FileChunk.size]))
        let second = try Self.read(file, at: Int64(FileChunk.size), remaining: Int64(Self.content.count - FileChunk.size))
        #expect(second == Array(Self.content[FileChunk.size..<(2 * FileChunk.size)]))
    }

    @Test func aReadAtAnOffsetStopsAtWhatRemains() throws {
        let file = try TempFile(Self.content)
        #expect(try Self.read(file, at: 1000, remaining: 500) == Array(Self.content[1000..<1500]))
    }

    @Test func aFileShorterThanPromisedGivesWhatIsThereThenEIO() throws {
        let file = try TempFile([1, 2, 3, 4, 5])
        // The region says 10 bytes from offset 2: the three there come first...
        #expect(try Self.read(file, at: 2, remaining: 10) == [3, 4, 5])
        // ...and the read at the end of the file is the shrink, named with its file.
        #expect(throws: SystemError(call: "pread", object: "body.bin", errno: EIO)) {
            _ = try Self.read(file, at: 5, remaining: 7)
        }
        #expect(throws: SystemError(call: "pread", object: "body.bin", errno: EIO)) {
            _ = try Self.read(file, at: 100, remaining: 1)
        }
    }

    @Test func aFileThatShrankAfterOpeningFails() throws {
        let file = try TempFile(Self.content)
        #expect(try Self.read(file, at: 0, remaining: 1000) == Array(Self.content[..<1000]))
        #expect(truncate(file.path, 1000) == 0)
        #expect(throws: SystemError(call: "pread", object: "body.bin", errno: EIO)) {
            _ = try Self.read(file, at: 1000, remaining: Int64(Self.content.count - 1000))
        }
    }

    @Test func aFailedReadThrowsItsErrno() throws {
        // A descriptor opened for writing only: pread fails with EBADF.
        let file = try TempFile(Self.content, flags: O_WRONLY)
        #expect(throws: SystemError(call: "pread", object: "body.bin", errno: EBADF)) {
            _ = try Self.read(file, at: 0, remaining: 10)
        }
    }
}
