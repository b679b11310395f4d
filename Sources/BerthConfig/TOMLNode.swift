import TOMLKit

/// A parsed TOML value as plain Sendable data, so validation never touches TOMLKit's
/// reference types (which wrap toml++ nodes and are not Sendable).
enum TOMLNode: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case dateTime(String)
    case array([TOMLNode])
    case table([(key: String, value: TOMLNode)])

    static func == (lhs: TOMLNode, rhs: TOMLNode) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.float(let a), .float(let b)): a == b
        case (.boolean(let a), .boolean(let b)): a == b
        case (.dateTime(let a), .dateTime(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.table(let a), .table(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// How the value is shown after "got" in an error message: strings quoted, scalars as
    /// written, containers by kind.
    var shown: String {
        switch self {
        case .string(let s): quoted(s)
        case .integer(let i): String(i)
        case .float(let d): String(d)
        case .boolean(let b): String(b)
        case .dateTime(let s): "a date (\(s))"
        case .array: "an array"
        case .table: "a table"
        }
    }

    /// Parses a TOML document. Syntax errors carry the line and column toml++ reports.
    static func parseDocument(_ text: String) throws(TOMLSyntaxError) -> [(key: String, value: TOMLNode)] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw TOMLSyntaxError(
                line: error.source.begin.line, column: error.source.begin.column,
                message: error.description)
        } catch {
            throw TOMLSyntaxError(line: 1, column: 1, message: "\(error)")
        }
        return entries(of: table)
    }

    private static func entries(of table: TOMLTable) -> [(key: String, value: TOMLNode)] {
        // toml++ keeps keys sorted, so error order is stable whatever the file's order.
        table.keys.compactMap { key in table[key].map { (key: key, value: node($0)) } }
    }

    private static func node(_ value: TOMLValueConvertible) -> TOMLNode {
        switch value.type {
        case .string: .string(value.string ?? "")
        case .int: .integer(value.int ?? 0)
        case .double: .float(value.double ?? 0)
        case .bool: .boolean(value.bool ?? false)
        case .date, .time, .dateTime: .dateTime(value.debugDescription)
        case .array: .array(value.array.map { $0.map(node) } ?? [])
        case .table: .table(value.table.map(entries) ?? [])
        }
    }
}

/// A TOML syntax error at a position in the document.
struct TOMLSyntaxError: Error {
    let line: Int
    let column: Int
    let message: String
}

/// Quotes a string the way error messages and docs show values: `"value"`, with `"` and `\`
/// escaped.
func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default: out.append(ch)
        }
    }
    return out + "\""
}
