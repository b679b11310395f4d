/// Content codings a client accepts (RFC 9110 §12.5.3), for choosing a precompressed file.
struct AcceptEncoding {
    /// The q-value of each coding named, lowercased; `*` stands for the others.
    private var qualities: [(coding: Substring, q: Double)] = []

    init(_ header: String) {
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";")
            guard let name = parts.first?.trimmingSpaces(), !name.isEmpty else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() {
                let kv = parameter.trimmingSpaces()
                if kv.lowercased().hasPrefix("q=") {
                    q = Double(kv.dropFirst(2)) ?? 0
                }
            }
            qualities.append((Substring(name.lowercased()), q))
        }
    }

    /// The client's quality for `coding` (0 = not acceptable).
    func quality(of coding: String) -> Double {
        if let named = qualities.first(where: { $0.coding == coding }) { return named.q }
        if coding == "gzip", let old = qualities.first(where: { $0.coding == "x-gzip" }) { return old.q }
        if let any = qualities.first(where: { $0.coding == "*" }) { return any.q }
        return 0
    }

    /// Which of the available codings to send: the one with the highest quality, brotli
    /// first on a tie (smaller); nil for the identity (plain) file.
    func choose(brotli: Bool, gzip: Bool) -> String? {
        let br = brotli ? quality(of: "br") : 0
        let gz = gzip ? quality(of: "gzip") : 0
        if br > 0 && br >= gz { return "br" }
        if gz > 0 { return "gzip" }
        return nil
    }
}
