/// One problem with a configuration: which file, which key (or flag), and what is wrong.
///
/// `key` is a dotted path with array indexes (`app.mysite.workers`, `route[2].static`), or a
/// flag name (`--workers`) when the value came from the command line. Syntax errors carry a
/// line and column instead of a key.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String?
    public var key: String
    public var problem: String
    public var line: Int?
    public var column: Int?

    public init(file: String? = nil, key: String, problem: String, line: Int? = nil, column: Int? = nil) {
        self.file = file
        self.key = key
        self.problem = problem
        self.line = line
        self.column = column
    }

    public var description: String {
        if let line {
            let position = "\(line):\(column ?? 1)"
            return file.map { "\($0):\(position): \(problem)" } ?? "\(position): \(problem)"
        }
        var parts: [String] = []
        if let file { parts.append(file) }
        if !key.isEmpty { parts.append(key) }
        parts.append(problem)
        return parts.joined(separator: ": ")
    }
}

/// Every problem found in a configuration, so `berth check` can show them all at once.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    /// One error per line.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}

/// A value that failed validation; the caller knows the key and adds it.
public struct InvalidValue: Error, Sendable, Equatable, CustomStringConvertible {
    public var problem: String

    public init(_ problem: String) {
        self.problem = problem
    }

    public var description: String { problem }
}

/// Gathers errors while a whole configuration is checked, tagging each with the file name.
struct ErrorCollector {
    let file: String?
    private(set) var errors: [ConfigError] = []

    init(file: String?) {
        self.file = file
    }

    mutating func add(_ key: String, _ problem: String) {
        errors.append(ConfigError(file: file, key: key, problem: problem))
    }

    /// Reports a key not in `known`, suggesting the closest known key when one is near.
    mutating func unknownKey(_ key: String, at path: String, known: [String]) {
        var problem = "unknown key"
        if let suggestion = closestMatch(to: key, among: known) {
            problem += " (did you mean \(quoted(suggestion))?)"
        }
        add(path, problem)
    }

    func throwIfAny() throws(ConfigErrors) {
        if !errors.isEmpty { throw ConfigErrors(errors) }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo:
/// at most 2 edits, and fewer than half the word's length.
func closestMatch(to word: String, among candidates: [String]) -> String? {
    let limit = min(2, max(1, word.count / 2))
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let d = editDistance(word.lowercased(), candidate.lowercased())
        if d <= limit, d < best?.distance ?? Int.max {
            best = (candidate, d)
        }
    }
    return best?.candidate
}

/// Levenshtein distance where swapping two neighbouring characters counts as one edit
/// (the optimal string alignment variant), since transpositions are the commonest typo.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}
