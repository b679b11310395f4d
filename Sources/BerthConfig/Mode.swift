/// How berth runs. The mode only changes defaults; a setting given explicitly always wins.
public enum Mode: String, Sendable, CaseIterable {
    /// `berth dev`: one worker, no request timeout, DEBUG allowed.
    case dev
    /// `berth serve`: production defaults.
    case serve
}
