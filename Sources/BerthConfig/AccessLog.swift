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
