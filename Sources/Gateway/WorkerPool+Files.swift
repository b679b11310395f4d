import AppExchange
import LinuxSystem
import NIOCore

/// File bodies passed by descriptor (docs/worker-protocol.md, "File bodies").
extension WorkerPool {
    /// Gives a new worker the end of a socketpair it passes open files on: sent as the first
    /// frame on its protocol socket, before the channel reads or writes it. NIO's channels
    /// read with read(2), which drops ancillary data, so descriptors travel on this second
    /// socket, read with recvmsg only when a RESPONSE_FILE frame says one waits there.
    /// Without it the worker sends file bodies as RESPONSE_BODY frames, as before.
    func offerFileSocket(to worker: Worker, protocolSocket: Int32) {
        do {
            let (gatewayEnd, workerEnd) = try Descriptors.socketPair(for: "\(worker.label) file socket")
            defer { Descriptors.close(workerEnd) }
            var frame = [UInt8](repeating: 0, count: WorkerFrame.headerSize)
            frame[4] = WorkerFrame.Kind.fileSocket.rawValue
            do {
                try Descriptors.send(frame, passing: workerEnd, over: protocolSocket, for: worker.label)
            } catch {
                Descriptors.close(gatewayEnd)
                throw error
            }
            worker.fileSocket = gatewayEnd
        } catch {
            logger.warning("\(worker.label): no file socket, file bodies go as frames: \(error)")
        }
    }

    /// The descriptor a RESPONSE_FILE frame announces, with the frame's region; nil (and
    /// the worker failed) when the frame or the descriptor is missing.
    func takeResponseFile(_ frame: WorkerFrame, from worker: Worker) -> ResponseFile? {
        guard frame.payload.readableBytes == 16,
            let (offset, length) = frame.payload.getMultipleIntegers(at: frame.payload.readerIndex, as: (UInt64, UInt64).self),
            offset <= UInt64(Int64.max), length <= UInt64(Int64.max) - offset
        else {
            workerFailed(worker, error: WorkerProtocolError(description: "malformed RESPONSE_FILE"))
            return nil
        }
        guard let socket = worker.fileSocket else {
            workerFailed(worker, error: WorkerProtocolError(description: "RESPONSE_FILE without a file socket"))
            return nil
        }
        do {
            let fd = try Descriptors.receiveDescriptor(from: socket, for: "\(worker.label) file socket")
            return ResponseFile(fd: fd, offset: Int64(offset), length: Int64(length))
        } catch {
            // The worker sends the descriptor before the frame: it is always there.
            workerFailed(worker, error: WorkerProtocolError(description: "RESPONSE_FILE without a descriptor: \(error)"))
            return nil
        }
    }

    /// Closes the worker's file socket; descriptors still queued in it close with it.
    func closeFileSocket(of worker: Worker) {
        if let socket = worker.fileSocket {
            worker.fileSocket = nil
            Descriptors.close(socket)
        }
    }
}
