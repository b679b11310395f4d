import Foundation
import LinuxSystem
import Logging
import NIOCore
import NIOPosix

/// The control socket `berth status` and `berth reload` talk to: a Unix stream socket, one
/// command line per connection (`status`, `reload`), answered with one JSON document, then
/// closed. The socket file is 0600 in a 0700 directory: only berth's user may control it.
final class ControlServer: Sendable {
    typealias Command = @Sendable (String) async -> ControlReply
    let path: String
    private let channel: Channel

    private init(path: String, channel: Channel) {
        self.path = path
        self.channel = channel
    }

    /// Binds `path`. A socket left by a berth that died is replaced; one that a running
    /// berth answers on is not (that berth keeps it).
    static func start(path: String, group: EventLoopGroup, logger: Logger, command: @escaping Command) async throws -> ControlServer {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Whoever can write the directory could put their own socket in our place.
        let attributes = try FileManager.default.attributesOfItem(atPath: directory)
        let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard owner == geteuid(), mode & 0o022 == 0 else {
            throw UnsafeControlDirectory(path: directory)
        }
        if FileManager.default.fileExists(atPath: path) {
            if (try? ControlClient.send("ping", to: path, timeout: 2)) != nil {
                throw ControlSocketInUse(path: path)
            }
            try? FileManager.default.removeItem(atPath: path)
        }
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlHandler(command: command, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path).get()
        chmod(path, 0o600)
        return ControlServer(path: path, channel: channel)
    }

    func stop() async {
        try? await channel.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Another berth already answers on the control socket.
struct ControlSocketInUse: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "control socket \(path) is in use by another running berth; set server.control_socket to reach this one"
    }
}

/// The control socket's directory belongs to another user or others may write it.
struct UnsafeControlDirectory: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "control socket directory \(path) is not owned by berth's user or is writable by others; choose another server.control_socket"
    }
}

/// One reply: `ok`, a message, and a JSON body (the status) when there is one.
struct ControlReply: Sendable {
    var ok: Bool
    var message: String
    var body: Data?

    /// `{"ok": ..., "message": ..., "status": body}` on one line.
    func encoded() -> Data {
        var text = "{\"ok\":\(ok),\"message\":\(jsonString(message))"
        if let body { text += ",\"status\":" + String(decoding: body, as: UTF8.self) }
        return Data((text + "}\n").utf8)
    }
}

func jsonString(_ text: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8)
    return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
}

/// Reads one command line, runs it, writes the reply, closes.
private final class ControlHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let command: ControlServer.Command
    private let logger: Logger
    private var received = ""
    private var answered = false

    init(command: @escaping ControlServer.Command, logger: Logger) {
        self.command = command
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readString(length: buffer.readableBytes) ?? ""
        guard !answered else { return }
        guard let newline = received.firstIndex(of: "\n") else {
            if received.utf8.count > 1024 { context.close(promise: nil) }
            return
        }
        answered = true
        let line = received[..<newline].trimmingCharacters(in: .whitespaces)
        let channel = context.channel
        let command = self.command
        Task {
            let reply = await command(line)
            var out = channel.allocator.buffer(capacity: 256)
            out.writeBytes(reply.encoded())
            try? await channel.writeAndFlush(out)
            try? await channel.close()
        }
    }
}

/// The client side, for `berth status` and `berth reload`: blocking, one command.
enum ControlClient {
    /// Sends `command`, returns the reply line. `timeout` bounds the whole exchange.
    static func send(_ command: String, to path: String, timeout: Double) throws -> String {
        let fd = try Descriptors.connectUnix(path)
        defer { Descriptors.close(fd) }
        try Descriptors.setTimeouts(fd, seconds: timeout)
        Descriptors.writeAll(fd, command + "\n")
        var reply: [UInt8] = []
        while true {
            let chunk = try Descriptors.readSome(fd, limit: 65536)
            if chunk.isEmpty { break }
            reply += chunk
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
