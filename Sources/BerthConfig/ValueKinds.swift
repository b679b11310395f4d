import Foundation

/// The value kinds settings are declared with. Each message says what is allowed and shows
/// what was given, so `key: problem` reads as a complete sentence.
extension ValueKind {
    static func integer(_ range: ClosedRange<Int>) -> ValueKind<Int> {
        ValueKind<Int>(
            docType: "integer, \(range.lowerBound)–\(range.upperBound)",
            read: { (node, _) throws(ValueProblem) in
                guard case .integer(let i) = node, range.contains(i) else {
                    throw ValueProblem(
                        problem: "must be an integer from \(range.lowerBound) to \(range.upperBound), got \(node.shown)")
                }
                return i
            },
            show: { String($0) })
    }

    /// A duration in seconds; integers and floats are both accepted.
    static func seconds(_ range: ClosedRange<Double>) -> ValueKind<Double> {
        number(range, of: "seconds")
    }

    /// A number of `unit`s (`"seconds"`, `"CPUs"`); integers and floats are both accepted.
    static func number(_ range: ClosedRange<Double>, of unit: String) -> ValueKind<Double> {
        ValueKind<Double>(
            docType: "\(unit), \(formatSeconds(range.lowerBound))–\(formatSeconds(range.upperBound))",
            read: { (node, _) throws(ValueProblem) in
                let value: Double? =
                    switch node {
                    case .integer(let i): Double(i)
                    case .float(let d): d
                    default: nil
                    }
                guard let value, value.isFinite, range.contains(value) else {
                    throw ValueProblem(
                        problem: "must be a number of \(unit) from \(formatSeconds(range.lowerBound)) to "
                            + "\(formatSeconds(range.upperBound)), got \(node.shown)")
                }
                return value
            },
            show: formatSeconds)
    }

    /// A host user or group id for the container's root to map to. 0 is refused: the
    /// container's root would be the host's. `rootIs` names it: "root", "root group".
    static func hostID(rootIs name: String) -> ValueKind<UInt32> {
        let range = 1...Int(UInt32.max - 1)
        return ValueKind<UInt32>(
            docType: "integer, \(range.lowerBound)–\(range.upperBound)",
            read: { (node, _) throws(ValueProblem) in
                if case .integer(0) = node {
                    throw ValueProblem(problem: "must not be 0: the container's \(name) would be the host's \(name)")
                }
                guard case .integer(let i) = node, range.contains(i) else {
                    throw ValueProblem(
                        problem: "must be an integer from \(range.lowerBound) to \(range.upperBound), got \(node.shown)")
                }
                return UInt32(i)
            },
            show: { String($0) })
    }

    static var boolean: ValueKind<Bool> {
        ValueKind<Bool>(
            docType: "boolean",
            read: { (node, _) throws(ValueProblem) in
                guard case .boolean(let b) = node else {
                    throw ValueProblem(problem: "must be true or false, got \(node.shown)")
                }
                return b
            },
            show: { String($0) })
    }

    /// A byte count: an integer, or a string with a binary unit (`"512k"`, `"100m"`, `"1g"`).
    static func byteSize(_ range: ClosedRange<Int>) -> ValueKind<Int> {
        let allowed = "a size in bytes from \(range.lowerBound) to \(ByteSize.format(range.upperBound))"
        return ValueKind<Int>(
            docType: "size, \(range.lowerBound)–\(ByteSize.format(range.upperBound))",
            read: { (node, _) throws(ValueProblem) in
                let bytes: Int
                switch node {
                case .integer(let i):
                    bytes = i
                case .string(let s):
                    do { bytes = try ByteSize.parse(s) } catch {
                        throw ValueProblem(problem: "must be \(allowed) (like 16384 or \"16k\"), got \(node.shown)")
                    }
                default:
                    throw ValueProblem(problem: "must be \(allowed) (like 16384 or \"16k\"), got \(node.shown)")
                }
                guard range.contains(bytes) else {
                    throw ValueProblem(problem: "must be \(allowed), got \(node.shown)")
                }
                return bytes
            },
            show: { String($0) },
            gloss: { bytes in
                let short = ByteSize.format(bytes)
                return short == String(bytes) ? nil : short
            })
    }

    /// A non-empty string checked by `validate`, which returns a problem or nil.
    static func text(
        _ docType: String, expected: String, validate: @escaping @Sendable (String) -> String? = { _ in nil }
    ) -> ValueKind<String> {
        ValueKind<String>(
            docType: docType,
            read: { (node, _) throws(ValueProblem) in
                guard case .string(let s) = node else {
                    throw ValueProblem(problem: "must be \(expected), got \(node.shown)")
                }
                if let problem = validate(s) { throw ValueProblem(problem: problem) }
                return s
            },
            show: quoted)
    }

    /// A filesystem path, resolved against the config file's directory (lexically: symlinks
    /// are kept, since a virtualenv's `bin/python` must stay the symlink it is).
    static var path: ValueKind<String> {
        ValueKind<String>(
            docType: "path",
            read: { (node, context) throws(ValueProblem) in
                guard case .string(let s) = node else {
                    throw ValueProblem(problem: "must be a path (a string), got \(node.shown)")
                }
                guard !s.isEmpty else { throw ValueProblem(problem: "must not be empty") }
                return resolvePath(s, against: context.baseDirectory)
            },
            show: quoted)
    }

    /// A program: a path as for `path`, or a bare name such as `"python3"` that is looked up on
    /// PATH.
    static var program: ValueKind<String> {
        ValueKind<String>(
            docType: "path or command name",
            read: { (node, context) throws(ValueProblem) in
                guard case .string(let s) = node else {
                    throw ValueProblem(problem: "must be a path or command name (a string), got \(node.shown)")
                }
                guard !s.isEmpty else { throw ValueProblem(problem: "must not be empty") }
                return s.contains("/") ? resolvePath(s, against: context.baseDirectory) : s
            },
            show: quoted)
    }

    static var accessLog: ValueKind<AccessLog> {
        ValueKind<AccessLog>(
            docType: "`\"-\"`, `\"off\"` or path",
            read: { (node, context) throws(ValueProblem) in
                guard case .string(let s) = node, !s.isEmpty else {
                    throw ValueProblem(
                        problem: "must be \"-\" (standard output), \"off\" or a file path, got \(node.shown)")
                }
                return AccessLog(parsing: s, baseDirectory: context.baseDirectory)
            },
            show: { quoted($0.description) })
    }

    /// Paths as for `path`, each checked by `validate` once resolved.
    static func paths(validate: @escaping @Sendable (String) -> String? = { _ in nil }) -> ValueKind<[String]> {
        ValueKind<[String]>(
            docType: "array of paths",
            read: { (node, context) throws(ValueProblem) in
                guard case .array(let items) = node else {
                    throw ValueProblem(problem: "must be an array of paths, got \(node.shown)")
                }
                return try items.enumerated().map { (i, item) throws(ValueProblem) in
                    let path: String
                    do throws(ValueProblem) { path = try ValueKind<String>.path.read(item, context) } catch {
                        throw ValueProblem(suffix: "[\(i)]", problem: error.problem)
                    }
                    if let problem = validate(path) { throw ValueProblem(suffix: "[\(i)]", problem: problem) }
                    return path
                }
            },
            show: { "[" + $0.map(quoted).joined(separator: ", ") + "]" })
    }

    /// System call names. Whether the kernel knows them is checked when the seccomp filter is
    /// built; here only their spelling.
    static var systemCalls: ValueKind<[String]> {
        ValueKind<[String]>(
            docType: "array of system call names",
            read: { (node, _) throws(ValueProblem) in
                guard case .array(let items) = node else {
                    throw ValueProblem(problem: "must be an array of system call names, got \(node.shown)")
                }
                return try items.enumerated().map { (i, item) throws(ValueProblem) in
                    guard case .string(let s) = item, !s.isEmpty,
                        s.allSatisfy({ $0.isASCIIDigit || ("a"..."z").contains($0) || $0 == "_" })
                    else {
                        throw ValueProblem(
                            suffix: "[\(i)]",
                            problem: "must be a system call name (a-z, 0-9 and \"_\"), got \(item.shown)")
                    }
                    return s
                }
            },
            show: { "[" + $0.map(quoted).joined(separator: ", ") + "]" })
    }

    static var network: ValueKind<IsolationConfig.Network> {
        ValueKind<IsolationConfig.Network>(
            docType: "`\"none\"` or `\"host\"`",
            read: { (node, _) throws(ValueProblem) in
                guard case .string(let s) = node, let network = IsolationConfig.Network(rawValue: s) else {
                    throw ValueProblem(problem: "must be \"none\" or \"host\", got \(node.shown)")
                }
                return network
            },
            show: { quoted($0.rawValue) })
    }

    static var strings: ValueKind<[String]> {
        ValueKind<[String]>(
            docType: "array of file names",
            read: { (node, _) throws(ValueProblem) in
                guard case .array(let items) = node else {
                    throw ValueProblem(problem: "must be an array of file names, got \(node.shown)")
                }
                return try items.enumerated().map { (i, item) throws(ValueProblem) in
                    guard case .string(let s) = item, !s.isEmpty, !s.contains("/") else {
                        throw ValueProblem(
                            suffix: "[\(i)]", problem: "must be a file name without \"/\", got \(item.shown)")
                    }
                    return s
                }
            },
            show: { "[" + $0.map(quoted).joined(separator: ", ") + "]" })
    }

    static var environment: ValueKind<[String: String]> {
        ValueKind<[String: String]>(
            docType: "table of strings",
            read: { (node, _) throws(ValueProblem) in
                guard case .table(let entries) = node else {
                    throw ValueProblem(problem: "must be a table of strings like { KEY = \"value\" }, got \(node.shown)")
                }
                var env: [String: String] = [:]
                for (key, value) in entries {
                    guard !key.isEmpty, !key.contains("="), !key.contains("\0") else {
                        throw ValueProblem(
                            suffix: ".\(key)", problem: "is not a valid environment variable name")
                    }
                    guard case .string(let s) = value, !s.contains("\0") else {
                        throw ValueProblem(suffix: ".\(key)", problem: "must be a string, got \(value.shown)")
                    }
                    env[key] = s
                }
                return env
            },
            show: { env in
                "{" + env.sorted { $0.key < $1.key }.map { " \($0.key) = \(quoted($0.value))" }
                    .joined(separator: ",") + (env.isEmpty ? "}" : " }")
            })
    }

    static var routeMatch: ValueKind<RouteMatch> {
        ValueKind<RouteMatch>(
            docType: "`\"prefix\"` or `\"exact\"`",
            read: { (node, _) throws(ValueProblem) in
                guard case .string(let s) = node, let match = RouteMatch(rawValue: s) else {
                    throw ValueProblem(problem: "must be \"prefix\" or \"exact\", got \(node.shown)")
                }
                return match
            },
            show: { quoted($0.rawValue) })
    }

    static var listenAddress: ValueKind<ListenAddress> {
        ValueKind<ListenAddress>(
            docType: "address",
            read: { (node, context) throws(ValueProblem) in
                guard case .string(let s) = node else {
                    throw ValueProblem(
                        problem: "must be a string: HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got \(node.shown)")
                }
                do throws(InvalidValue) {
                    return try ListenAddress.parse(s).resolved(against: context.baseDirectory)
                } catch {
                    throw ValueProblem(problem: error.problem)
                }
            },
            show: { quoted($0.description) })
    }
}

extension ValueKind {
    /// File extensions to content types: `{ webp = "image/webp" }`.
    static var mimeTypes: ValueKind<[String: String]> {
        ValueKind<[String: String]>(
            docType: "table of content types",
            read: { (node, _) throws(ValueProblem) in
                guard case .table(let entries) = node else {
                    throw ValueProblem(problem: "must be a table like { webp = \"image/webp\" }, got \(node.shown)")
                }
                var types: [String: String] = [:]
                for (key, value) in entries {
                    let ext = key.hasPrefix(".") ? String(key.dropFirst()) : key
                    guard !ext.isEmpty, !ext.contains("/"), !ext.contains(".") else {
                        throw ValueProblem(suffix: ".\(key)", problem: "must be a file extension like webp")
                    }
                    guard case .string(let type) = value, isMediaType(type) else {
                        throw ValueProblem(
                            suffix: ".\(key)", problem: "must be a content type like \"image/webp\", got \(value.shown)")
                    }
                    types[ext.lowercased()] = type
                }
                return types
            },
            show: { types in
                "{" + types.sorted { $0.key < $1.key }.map { " \($0.key) = \(quoted($0.value))" }
                    .joined(separator: ",") + (types.isEmpty ? "}" : " }")
            })
    }

    /// Host names a route serves: one string or an array; each a name or `*.suffix`.
    static var hostPatterns: ValueKind<[String]> {
        ValueKind<[String]>(
            docType: "host name or array of them",
            read: { (node, _) throws(ValueProblem) in
                let items: [TOMLNode]
                switch node {
                case .string: items = [node]
                case .array(let array) where !array.isEmpty: items = array
                default:
                    throw ValueProblem(problem: "must be a host name like \"example.com\" or \"*.example.com\", or an array of them, got \(node.shown)")
                }
                return try items.enumerated().map { (i, item) throws(ValueProblem) in
                    let suffix = items.count == 1 && !(node.isArray) ? "" : "[\(i)]"
                    guard case .string(let s) = item else {
                        throw ValueProblem(suffix: suffix, problem: "must be a host name, got \(item.shown)")
                    }
                    if let problem = hostPatternProblem(s) { throw ValueProblem(suffix: suffix, problem: problem) }
                    return s.lowercased()
                }
            },
            show: { $0.count == 1 ? quoted($0[0]) : "[" + $0.map(quoted).joined(separator: ", ") + "]" })
    }

    /// Response header fields: a table of strings with token names and single-line values.
    static var responseHeaders: ValueKind<[String: String]> {
        ValueKind<[String: String]>(
            docType: "table of strings",
            read: { (node, _) throws(ValueProblem) in
                guard case .table(let entries) = node else {
                    throw ValueProblem(problem: "must be a table of strings like { \"X-Frame-Options\" = \"DENY\" }, got \(node.shown)")
                }
                var fields: [String: String] = [:]
                for (name, value) in entries {
                    let token = "!#$%&'*+-.^_`|~"
                    guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0)) || token.unicodeScalars.contains($0)) }) else {
                        throw ValueProblem(suffix: ".\(name)", problem: "is not a valid header field name")
                    }
                    guard case .string(let s) = value, !s.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                        throw ValueProblem(suffix: ".\(name)", problem: "must be a one-line string, got \(value.shown)")
                    }
                    fields[name] = s
                }
                return fields
            },
            show: { fields in
                "{" + fields.sorted { $0.key < $1.key }.map { " \(quoted($0.key)) = \(quoted($0.value))" }
                    .joined(separator: ",") + (fields.isEmpty ? "}" : " }")
            })
    }
}

/// `type/subtype` with optional parameters, no control characters.
func isMediaType(_ s: String) -> Bool {
    let main = s.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    let parts = main.split(separator: "/", omittingEmptySubsequences: false)
    return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && !$0.contains(" ") }
        && !s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
}

/// A header value written in the config: no line breaks or other control characters.
func headerValueProblem(_ s: String) -> String? {
    if s.isEmpty { return "must not be empty" }
    if s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7f }) {
        return "must not contain line breaks or control characters"
    }
    return nil
}

extension ValueKind {
    /// One of an enum's string values.
    static func choice<T: RawRepresentable & CaseIterable & Sendable>(_ type: T.Type) -> ValueKind<T>
    where T.RawValue == String {
        let names = T.allCases.map { quoted($0.rawValue) }
        let listed = names.dropLast().joined(separator: ", ") + (names.count > 1 ? " or " : "") + (names.last ?? "")
        return ValueKind<T>(
            docType: T.allCases.map { "`\"\($0.rawValue)\"`" }.joined(separator: ", "),
            read: { (node, _) throws(ValueProblem) in
                guard case .string(let s) = node, let value = T(rawValue: s) else {
                    throw ValueProblem(problem: "must be \(listed), got \(node.shown)")
                }
                return value
            },
            show: { quoted($0.rawValue) })
    }

    static var errorLog: ValueKind<ErrorLog> {
        ValueKind<ErrorLog>(
            docType: "`\"-\"` or path",
            read: { (node, context) throws(ValueProblem) in
                guard case .string(let s) = node, !s.isEmpty else {
                    throw ValueProblem(problem: "must be \"-\" (standard error) or a file path, got \(node.shown)")
                }
                return s == "-" ? .stderr : .file(path: resolvePath(s, against: context.baseDirectory))
            },
            show: { quoted($0.description) })
    }
}

extension TOMLNode {
    var isArray: Bool {
        if case .array = self { return true }
        return false
    }
}

/// Host names of routes: letters, digits, `-` and `.`, optionally starting with `*.`.
func hostPatternProblem(_ s: String) -> String? {
    var name = Substring(s)
    if name.hasPrefix("*.") { name = name.dropFirst(2) }
    let valid = !name.isEmpty && !name.hasPrefix(".") && !name.hasSuffix(".")
        && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
    return valid ? nil : "must be a host name like \"example.com\" or \"*.example.com\" (no port, no other wildcards), got \(quoted(s))"
}

/// URL paths of routes: absolute, without query, fragment or whitespace.
func urlPathProblem(_ s: String) -> String? {
    guard s.hasPrefix("/") else { return "must start with \"/\", got \(quoted(s))" }
    if s.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) {
        return "must be a URL path without query, fragment or spaces, got \(quoted(s))"
    }
    return nil
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() && abs(s) < 1e15 ? String(Int(s)) : String(s)
}

/// Resolves `path` against `base` lexically: `.` and `..` are folded, symlinks are not
/// followed, and `~/` means the home directory.
func resolvePath(_ path: String, against base: String) -> String {
    var full = path
    if path == "~" || path.hasPrefix("~/") {
        full = NSHomeDirectory() + path.dropFirst()
    } else if !path.hasPrefix("/") {
        full = base + "/" + path
    }
    var parts: [Substring] = []
    for part in full.split(separator: "/", omittingEmptySubsequences: true) {
        switch part {
        case ".": continue
        case "..": if !parts.isEmpty { parts.removeLast() }
        default: parts.append(part)
        }
    }
    return "/" + parts.joined(separator: "/")
}
