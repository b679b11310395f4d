#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A blocking inotify instance: add watches, then read batches of events on a thread of
/// your own. See inotify(7).
public final class Inotify: @unchecked Sendable {
    public struct Event: Sendable {
        public let watch: Int32
        public let mask: UInt32
        public let name: String
    }

    public static let closeWrite = UInt32(IN_CLOSE_WRITE)
    public static let movedTo = UInt32(IN_MOVED_TO)
    public static let movedFrom = UInt32(IN_MOVED_FROM)
    public static let create = UInt32(IN_CREATE)
    public static let delete = UInt32(IN_DELETE)
    public static let isDirectory = UInt32(IN_ISDIR)
    public static let overflow = UInt32(IN_Q_OVERFLOW)

    private let fd: Int32

    public init() throws(SystemError) {
        fd = try retryingSyscall("inotify_init1") { inotify_init1(Int32(IN_CLOEXEC)) }
    }

    deinit { Descriptors.close(fd) }

    /// Watches `path` for the events in `mask`; returns the watch descriptor.
    @discardableResult
    public func addWatch(_ path: String, mask: UInt32) throws(SystemError) -> Int32 {
        try retryingSyscall("inotify_add_watch", path) { inotify_add_watch(fd, path, mask) }
    }

    /// Blocks until events arrive and returns them.
    public func read() throws(SystemError) -> [Event] {
        // Room for many events at once; each is a 16-byte header plus a padded name.
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let fd = self.fd
        let count = try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(SystemError) -> Int in
                try retryingSyscall("read", "inotify") { Glibc.read(fd, raw.baseAddress, raw.count) }
            }
        }.get()
        var events: [Event] = []
        var offset = 0
        let headerSize = MemoryLayout<inotify_event>.size
        while offset + headerSize <= count {
            let (watch, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                let wd = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                let len = raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)
                return (wd, mask, Int(len))
            }
            let nameBytes = buffer[(offset + headerSize)..<(offset + headerSize + length)]
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            events.append(Event(watch: watch, mask: mask, name: name))
            offset += headerSize + length
        }
        return events
    }
}
