import Foundation
import Testing

@testable import Container

#if canImport(Glibc)
import Glibc
#endif

/// SmallInit: berth-init found beside the executable, once, and let go with its launcher.
@Suite struct SmallInitTests {
    /// A fresh directory standing for the one that holds berth's executable.
    private static func directory(withInit: Bool) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-smallinit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        if withInit {
            try Data("#!/bin/sh\n".utf8).write(to: directory.appendingPathComponent("berth-init"))
        }
        return directory
    }

    private static func target(_ fd: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")
    }

    @Test func berthInitBesideTheExecutableIsHeldOpenCloseOnExec() throws {
        let directory = try Self.directory(withInit: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let expected = directory.appendingPathComponent("berth-init").path
        var smallInit: SmallInit? = SmallInit(besideExecutable: directory.appendingPathComponent("berth").path)
        let fd = try #require(smallInit?.fd)
        #expect(fd >= 0)
        #expect(Self.target(fd) == expected)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        // The same descriptor for every launch, closed with its owner (the number may be
        // reused at once by another test's open, never for this file).
        #expect(smallInit?.fd == fd)
        smallInit = nil
        #expect(Self.target(fd) != expected)
    }

    @Test func withoutBerthInitThereIsNoDescriptor() throws {
        let directory = try Self.directory(withInit: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(SmallInit(besideExecutable: directory.appendingPathComponent("berth").path).fd == -1)
        #expect(SmallInit(besideExecutable: nil).fd == -1)
    }
}
