/// A problem with one value, possibly inside it (`suffix` is `.KEY` or `[i]` below the
/// setting's own key, for tables and arrays).
struct ValueProblem: Error, Sendable {
    var suffix = ""
    var problem: String
}

/// What reading a setting needs besides the value: where relative paths start.
struct ReadContext: Sendable {
    var baseDirectory: String
}

/// How one type of setting is read from TOML, validated, and shown in the docs.
struct ValueKind<Value: Sendable>: Sendable {
    /// The type column of docs/configuration.md, with the allowed range.
    let docType: String
    let read: @Sendable (TOMLNode, ReadContext) throws(ValueProblem) -> Value
    /// How a default is written in the docs, as TOML.
    let show: @Sendable (Value) -> String
    /// A reading aid the docs add after a default, like `100m` for 104857600.
    var gloss: @Sendable (Value) -> String? = { _ in nil }
}

/// One setting, declared once: its key, type and validation, defaults per mode, CLI flag and
/// a one-line description. Loading, `--flag` overrides and docs/configuration.md all come
/// from these declarations.
struct Setting<Model>: Sendable {
    let key: String
    let docType: String
    let flag: String?
    let summary: String
    let isRequired: Bool
    /// The default as the docs show it (Markdown); nil for settings that have none.
    let docDefault: @Sendable (Mode) -> String?
    /// Sets the mode's default on a fresh model.
    let applyDefault: @Sendable (inout Model, Mode) -> Void
    /// Reads and validates a value, storing it on success.
    let apply: @Sendable (inout Model, TOMLNode, ReadContext) throws(ValueProblem) -> Void

    /// A setting with a default for each mode.
    init<Value>(
        _ key: String, _ kind: ValueKind<Value>, _ keyPath: WritableKeyPath<Model, Value> & Sendable,
        serve: Value, dev: Value, flag: String? = nil, _ summary: String
    ) {
        self.key = key
        self.docType = kind.docType
        self.flag = flag
        self.summary = summary
        self.isRequired = false
        let show = kind.show, gloss = kind.gloss
        self.docDefault = { mode in
            let value = mode == .dev ? dev : serve
            return "`\(show(value))`" + (gloss(value).map { " (\($0))" } ?? "")
        }
        self.applyDefault = { model, mode in model[keyPath: keyPath] = mode == .dev ? dev : serve }
        let read = kind.read
        self.apply = { (model, node, context) throws(ValueProblem) in
            model[keyPath: keyPath] = try read(node, context)
        }
    }

    /// A setting with one default in both modes.
    init<Value>(
        _ key: String, _ kind: ValueKind<Value>, _ keyPath: WritableKeyPath<Model, Value> & Sendable,
        default value: Value, flag: String? = nil, _ summary: String
    ) {
        self.init(key, kind, keyPath, serve: value, dev: value, flag: flag, summary)
    }

    /// A setting whose absence means something other than a fixed value (`required`, or a
    /// default the docs describe in words, like "the config file's directory").
    init<Value>(
        _ key: String, _ kind: ValueKind<Value>, _ keyPath: WritableKeyPath<Model, Value?> & Sendable,
        required: Bool = false, defaultText: String? = nil, flag: String? = nil, _ summary: String
    ) {
        self.key = key
        self.docType = kind.docType
        self.flag = flag
        self.summary = summary
        self.isRequired = required
        self.docDefault = { _ in required ? "required" : defaultText }
        self.applyDefault = { _, _ in }
        let read = kind.read
        self.apply = { (model, node, context) throws(ValueProblem) in
            model[keyPath: keyPath] = try read(node, context)
        }
    }

    /// A setting with custom storage, for values that land in an enum case.
    init(
        _ key: String, docType: String, defaultText: String? = nil, flag: String? = nil, _ summary: String,
        apply: @escaping @Sendable (inout Model, TOMLNode, ReadContext) throws(ValueProblem) -> Void
    ) {
        self.key = key
        self.docType = docType
        self.flag = flag
        self.summary = summary
        self.isRequired = false
        self.docDefault = { _ in defaultText }
        self.applyDefault = { _, _ in }
        self.apply = apply
    }
}

extension Array {
    /// Applies every setting's default for `mode` to `model`.
    func applyDefaults<Model>(to model: inout Model, mode: Mode) where Element == Setting<Model> {
        for setting in self { setting.applyDefault(&model, mode) }
    }

    func setting<Model>(_ key: String) -> Setting<Model>? where Element == Setting<Model> {
        first { $0.key == key }
    }
}

extension ErrorCollector {
    /// Reads one TOML table into `model` using `settings`: unknown keys and invalid values
    /// become errors under `path`, and missing required keys are reported. Keys in `sections`
    /// are tables the caller reads itself: they are skipped here, and suggested for typos.
    /// Returns the keys that were present.
    @discardableResult
    mutating func readSection<Model>(
        _ entries: [(key: String, value: TOMLNode)], at path: String, into model: inout Model,
        settings: [Setting<Model>], sections: [String] = [], context: ReadContext
    ) -> Set<String> {
        var present = Set<String>()
        for (key, value) in entries where !sections.contains(key) {
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard let setting = settings.setting(key) else {
                unknownKey(key, at: keyPath, known: settings.map(\.key) + sections)
                continue
            }
            present.insert(key)
            do {
                try setting.apply(&model, value, context)
            } catch {
                add(keyPath + error.suffix, error.problem)
            }
        }
        for setting in settings where setting.isRequired && !present.contains(setting.key) {
            add(path.isEmpty ? setting.key : "\(path).\(setting.key)", "is required")
        }
        return present
    }
}
