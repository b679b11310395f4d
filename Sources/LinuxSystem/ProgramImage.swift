import CBerthLinux

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The running executable's own pages in memory.
public enum ProgramImage {
    /// Hands the executable's read-only pages (code, read-only data, symbol and relocation
    /// tables) back to the kernel: madvise(MADV_PAGEOUT) reclaims those it may (a file we
    /// own and may write; Linux 5.4), then MADV_DONTNEED drops the rest from our page tables.
    ///
    /// berth is one large static binary: parsing the command line and the config, Foundation's
    /// and ICU's initialisation, resolving 100k relocations and setting up containers fault
    /// in megabytes of it that serving never touches again, and they stay mapped, and
    /// counted in RSS, until the kernel is short of memory. Dropped once start-up is over,
    /// only what serving runs comes back, on first use, from the page cache or the file.
    /// Both advices are safe here because these segments are never written: a private file
    /// mapping that is refaulted reads the file's unchanged bytes again. Relocated data lives
    /// in writable segments and is never included. A debugger's breakpoints in those pages
    /// (copy-on-write changes) would be lost: berth calls this in release builds only.
    /// Returns the bytes advised.
    @discardableResult
    public static func releaseStartupPages() throws(SystemError) -> Int {
        var ranges = [berth_code_range](repeating: berth_code_range(), count: 8)
        let count = Int(berth_program_code_ranges(&ranges, Int32(ranges.count)))
        var advised = 0
        for range in ranges.prefix(min(count, ranges.count)) {
            guard let start = UnsafeMutableRawPointer(bitPattern: range.start) else { continue }
            // EINVAL: a kernel without MADV_PAGEOUT; DONTNEED alone still does the main part.
            _ = madvise(start, range.length, Int32(BERTH_MADV_PAGEOUT))
            _ = try retryingSyscall("madvise", "MADV_DONTNEED, berth's code at 0x\(String(range.start, radix: 16))") {
                madvise(start, range.length, MADV_DONTNEED)
            }
            advised += range.length
        }
        return advised
    }
}
