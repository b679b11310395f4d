import Foundation
import LinuxSystem
import Synchronization
import Testing

/// Threads.detach runs its body on a thread of its own; temporaryDirectory follows $TMPDIR.
@Suite struct ThreadsTests {
    @Test func detachRunsTheBodyOnAnotherThread() throws {
        let caller = pthread_self()
        let ran = Mutex<pthread_t?>(nil)
        let done = DispatchSemaphore(value: 0)
        try Threads.detach {
            ran.withLock { $0 = pthread_self() }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        let thread = try #require(ran.withLock { $0 })
        #expect(pthread_equal(thread, caller) == 0)
    }

    @Test func temporaryDirectoryEndsInASlash() {
        let directory = temporaryDirectory()
        #expect(directory.hasPrefix("/") && directory.hasSuffix("/"))
        if let value = ProcessInfo.processInfo.environment["TMPDIR"], value.hasPrefix("/") {
            #expect(directory == (value.hasSuffix("/") ? value : value + "/"))
        } else {
            #expect(directory == "/tmp/")
        }
    }
}
