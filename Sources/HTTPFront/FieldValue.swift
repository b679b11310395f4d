/// Byte-level reading of field values shared by the HTTP/1 parser and the static responder:
/// String's splitting and trimming work on Characters and cost far more per request.
enum FieldValue {
    /// `range` of `bytes` without the spaces and tabs at either end (OWS, RFC 9110 §5.6.3).
    static func trimmingWhitespace(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        var (start, end) = (range.lowerBound, range.upperBound)
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return start..<end
    }

    /// Whether an item of the comma-separated list `value` (RFC 9110 §5.6.1), taken without
    /// the whitespace around it, satisfies `predicate`; items are tried in order, empty ones
    /// included, up to the first that does.
    static func containsItem(in value: UnsafeRawBufferPointer, where predicate: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            if predicate(UnsafeRawBufferPointer(rebasing: value[trimmingWhitespace(value, start..<end)])) { return true }
            start = end + 1
        }
        return false
    }
}
