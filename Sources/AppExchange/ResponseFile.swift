import LinuxSystem

/// A region of an open file that is an app's response body, with the descriptor it owns.
///
/// The descriptor came from the worker (SCM_RIGHTS): it is the app's open file, opened with
/// the app's permissions, possibly inside its container. Exactly one owner closes it: this
/// object when it is released, unless `take()` handed the descriptor to another owner.
public final class ResponseFile: @unchecked Sendable {
    private var fd: Int32
    /// Where the body starts in the file.
    public let offset: Int64
    /// How many bytes the body has.
    public let length: Int64

    public init(fd: Int32, offset: Int64, length: Int64) {
        self.fd = fd
        self.offset = offset
        self.length = length
    }

    /// Hands the descriptor over: the caller closes it from now on. Nil if it was taken
    /// or closed already.
    public func take() -> Int32? {
        guard fd >= 0 else { return nil }
        defer { fd = -1 }
        return fd
    }

    /// Closes the descriptor now (also done when the object is released).
    public func close() {
        if let fd = take() { Descriptors.close(fd) }
    }

    deinit { close() }
}
