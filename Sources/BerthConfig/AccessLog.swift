/// Where the access log goes.
public enum AccessLog: Sendable, Hashable, CustomStringConvertible {
    /// Standard output, written `"-"`.
    case stdout
    /// No access log, written `"off"`.
    case off
    /// Appended to a file.
    case file(path: String)

    /// Reads `"-"`, `"off"` or a path, resolving a relative path against `baseDirectory`.
    public init(parsing text: String, baseDirectory: String) {
        switch text {
        case "-": self = .stdout
        case "off": self = .off
        default: self = .file(path: resolvePath(text, against: baseDirectory))
        }
    }

    public var description: String {
        switch self {
        case .stdout: "-"
        case .off: "off"
        case .file(let path): path
        }
    }
}

/// How access log lines are written.
public enum AccessLogFormat: String, Sendable, Hashable, CaseIterable {
    /// nginx's "combined", then the request time and berth's request id.
    case combined
    /// One JSON object per line.
    case json
}

/// Where the error log goes.
public enum ErrorLog: Sendable, Hashable, CustomStringConvertible {
    /// Standard error, written `"-"`.
    case stderr
    /// Appended to a file.
    case file(path: String)

    public var description: String {
        switch self {
        case .stderr: "-"
        case .file(let path): path
        }
    }
}

/// The least severe messages the error log keeps.
public enum LogLevel: String, Sendable, Hashable, CaseIterable {
    case debug, info, notice, warning, error, critical
}
