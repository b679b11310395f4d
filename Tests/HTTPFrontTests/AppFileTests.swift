import AppExchange
import Foundation
import NIOCore
import Testing

@testable import HTTPFront

#if canImport(Glibc)
import Glibc
#endif

/// Answers every request with a region of a real file, as the gateway does for
/// RESPONSE_FILE; records the descriptor so that tests can check it was closed.
final class FileService: AppService, @unchecked Sendable {
    final class Handle: AppExchangeHandle, @unchecked Sendable {
        func requestBody(_ chunk: ByteBuffer) {}
        func requestEnd() {}
        func cancel() {}
        func responseWritabilityChanged(_ writable: Bool) {}
    }

    let path: String
    let status: Int
    var descriptors: [OpenedFile] = []

    init(path: String, status: Int = 200) {
        self.path = path
        self.status = status
    }

    func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        descriptors.append(OpenedFile(fd))
        writer.responseHead(status: status, reason: "", headers: [("Content-Length", "100")])
        writer.responseFile(ResponseFile(fd: fd, offset: 10, length: 100))
        writer.responseEnd()
        return Handle()
    }
}

/// A descriptor and the file it was opened on. Tests run in parallel, so a closed
/// descriptor's number can be reused at once by another test's open: "closed" means
/// the number no longer names this file, not merely that fcntl fails on it.
struct OpenedFile {
    let fd: Int32
    let device: UInt
    let inode: UInt

    init(_ fd: Int32) {
        var info = stat()
        precondition(fstat(fd, &info) == 0, "fstat on a descriptor just opened")
        self.fd = fd
        device = UInt(info.st_dev)
        inode = UInt(info.st_ino)
    }

    var isClosed: Bool {
        var info = stat()
        if fstat(fd, &info) != 0 { return errno == EBADF }
        return UInt(info.st_dev) != device || UInt(info.st_ino) != inode
    }
}

@Suite("App file bodies (RESPONSE_FILE), in memory")
struct AppFileTests {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "berth-appfile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Data(repeating: 65, count: 1000).write(to: URL(fileURLWithPath: path))
    }

    func harness(_ service: FileService) throws -> FrontHarness {
        try FrontHarness(configuration: FrontConfiguration(route: { _ in .app(service, prefix: "/") }))
    }

    @Test func getSendsTheRegionAndClosesTheFile() throws {
        defer { unlink(path) }
        let service = FileService(path: path)
        let front = try harness(service)
        let out = try front.exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(out.contains("content-length: 100\r\n") || out.contains("Content-Length: 100\r\n"))
        #expect(out.hasSuffix("\r\n\r\n<file 100 bytes>"))
        #expect(front.isActive)
        #expect(service.descriptors.count == 1 && service.descriptors[0].isClosed)
    }

    @Test func headAndBodylessStatusesCloseWithoutSending() throws {
        defer { unlink(path) }
        for (request, status) in [("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 200), ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 304)] {
            let service = FileService(path: path, status: status)
            let front = try harness(service)
            let out = try front.exchange(request)
            #expect(!out.contains("<file"))
            #expect(service.descriptors[0].isClosed)
        }
    }

    @Test func responseFileClosesWhatItStillOwns() throws {
        defer { unlink(path) }
        let dropped = OpenedFile(Glibc.open(path, O_RDONLY | O_CLOEXEC))
        do { _ = ResponseFile(fd: dropped.fd, offset: 0, length: 1) }
        #expect(dropped.isClosed)
        let taken = OpenedFile(Glibc.open(path, O_RDONLY | O_CLOEXEC))
        do {
            let file = ResponseFile(fd: taken.fd, offset: 0, length: 1)
            #expect(file.take() == taken.fd)
            #expect(file.take() == nil)
        }
        #expect(!taken.isClosed)
        close(taken.fd)
    }
}
