/// The `Range` header of a request for a file, judged the way nginx's range filter does
/// (ngx_http_range_parse), which is what clients in the field are used to.
enum ByteRanges: Equatable {
    /// Serve the whole file with 200: no usable range (not `bytes=`, a range starting at 0
    /// on an empty file, or ranges that add up to more than the file).
    case ignore
    /// 416 with `Content-Range: bytes */SIZE`: malformed, or no range overlaps the file.
    case unsatisfiable
    /// These half-open ranges, in the order asked, clipped to the file.
    case ranges([Range<Int64>])

    /// Parses `header` for a file of `size` bytes.
    static func parse(_ header: String, size: Int64) -> ByteRanges {
        let bytes = Array(header.utf8)
        // "bytes=" in any case, and at least one character after it.
        guard bytes.count >= 7 else { return .ignore }
        let prefix = Array("bytes=".utf8)
        // `| 0x20` lowercases letters and leaves "=" as it is.
        for i in 0..<6 where bytes[i] | 0x20 != prefix[i] {
            return .ignore
        }
        var p = 6
        func at(_ i: Int) -> UInt8 { i < bytes.count ? bytes[i] : 0 }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func skipSpaces() { while at(p) == 0x20 { p += 1 } }
        func number() -> Int64? {
            var value: Int64 = 0
            while isDigit(at(p)) {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int64(at(p) - 0x30))
                if o1 || o2 { return nil }
                value = sum
                p += 1
            }
            return value
        }
        var result: [Range<Int64>] = []
        var total: Int64 = 0
        while true {
            var start: Int64 = 0
            var end: Int64 = 0
            skipSpaces()
            if at(p) != UInt8(ascii: "-") {
                guard isDigit(at(p)), let first = number() else { return .unsatisfiable }
                start = first
                skipSpaces()
                guard at(p) == UInt8(ascii: "-") else { return .unsatisfiable }
                p += 1
                skipSpaces()
                if at(p) == UInt8(ascii: ",") || p >= bytes.count {
                    end = size
                } else {
                    guard isDigit(at(p)), let last = number() else { return .unsatisfiable }
                    skipSpaces()
                    guard at(p) == UInt8(ascii: ",") || p >= bytes.count else { return .unsatisfiable }
                    end = last >= size ? size : last + 1
                }
            } else {
                p += 1
                guard isDigit(at(p)), let suffix = number() else { return .unsatisfiable }
                skipSpaces()
                guard at(p) == UInt8(ascii: ",") || p >= bytes.count else { return .unsatisfiable }
                start = suffix < size ? size - suffix : 0
                end = size
            }
            if start < end {
                result.append(start..<end)
                total += end - start
            } else if start == 0 {
                return .ignore
            }
            guard at(p) == UInt8(ascii: ",") else { break }
            p += 1
        }
        if result.isEmpty { return .unsatisfiable }
        // Overlapping ranges that add up to more than the file: send it whole instead.
        if total > size { return .ignore }
        return .ranges(result)
    }
}
