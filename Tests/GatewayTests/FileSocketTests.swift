import AppExchange
import Foundation
import LinuxSystem
import Testing

@Suite("Passing response files over a file socket")
struct FileSocketTests {
    @Test func descriptorsArriveInOrderAndNothingWaitsAfterThem() throws {
        let (ours, theirs) = try Descriptors.socketPair()
        defer {
            Descriptors.close(ours)
            Descriptors.close(theirs)
        }
        var pipe: [Int32] = [-1, -1]
        #expect(Glibc.pipe(&pipe) == 0)
        defer { pipe.forEach(Descriptors.close) }
        for fd in pipe { try Descriptors.send([0], passing: fd, over: theirs) }
        let first = try Descriptors.receiveDescriptor(from: ours)
        let second = try Descriptors.receiveDescriptor(from: ours)
        defer { [first, second].forEach(Descriptors.close) }
        // The same pipe's two ends, in the order sent: a byte written to the second
        // comes out of the first.
        #expect(Glibc.write(second, "x", 1) == 1)
        var byte: UInt8 = 0
        #expect(Glibc.read(first, &byte, 1) == 1 && byte == UInt8(ascii: "x"))
        #expect(fcntl(first, F_GETFD) & FD_CLOEXEC != 0)
        #expect(throws: SystemError.self) { try Descriptors.receiveDescriptor(from: ours) }
        do {
            _ = try Descriptors.receiveDescriptor(from: ours)
        } catch {
            #expect(error.errno == EAGAIN)
        }
    }

    @Test func aByteWithoutADescriptorIsRefused() throws {
        let (ours, theirs) = try Descriptors.socketPair()
        defer {
            Descriptors.close(ours)
            Descriptors.close(theirs)
        }
        #expect(Glibc.write(theirs, "x", 1) == 1)
        do {
            _ = try Descriptors.receiveDescriptor(from: ours)
            Issue.record("received a descriptor that was never sent")
        } catch {
            #expect(error.errno == EBADMSG)
        }
    }
}
