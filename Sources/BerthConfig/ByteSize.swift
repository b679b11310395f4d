/// Byte counts written with binary units: `"512k"`, `"100m"`, `"1g"` (also `"100MB"`,
/// `"100MiB"`; case does not matter).
public enum ByteSize {
    /// Parses a plain number of bytes or a number with a `k`, `m` or `g` unit (powers of 1024).
    public static func parse(_ text: String) throws(InvalidValue) -> Int {
        var s = Substring(text.trimmingWhitespace().lowercased())
        for suffix in ["ib", "b"] where s.hasSuffix(suffix) {
            s = s.dropLast(suffix.count)
            break
        }
        var multiplier = 1
        if let unit = s.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][String(unit)] {
            multiplier = 1 << (10 * power)
            s = s.dropLast()
        }
        guard !s.isEmpty, s.allSatisfy(\.isASCIIDigit), let number = Int(s) else {
            throw InvalidValue("expected a number of bytes like 16384, \"512k\", \"100m\" or \"1g\", got \(quoted(text))")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw InvalidValue("\(quoted(text)) is too large") }
        return bytes
    }

    /// The shortest exact spelling: `104857600` → `"100m"`, `1000` → `"1000"`.
    public static func format(_ bytes: Int) -> String {
        guard bytes > 0 else { return String(bytes) }
        for (unit, power) in [("t", 4), ("g", 3), ("m", 2), ("k", 1)] {
            let size = 1 << (10 * power)
            if bytes % size == 0 { return "\(bytes / size)\(unit)" }
        }
        return String(bytes)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
