import NIOHTTP1

extension HTTPHeaders {
    /// How many Host values the request carries: fields named Host, each counting one more
    /// per comma in its value (what `[canonicalForm: "host"].count` says, without splitting
    /// and allocating on every request).
    var hostValueCount: Int {
        var count = 0
        for (name, value) in self where name.utf8.equalsIgnoringCase("host") {
            count += 1
            count += value.utf8.withContiguousStorageIfAvailable { $0.count(where: { $0 == UInt8(ascii: ",") }) }
                ?? value.utf8.count(where: { $0 == UInt8(ascii: ",") })
        }
        return count
    }
}
