import CBerthLinux

/// glibc's malloc arenas.
public enum MallocHeap {
    /// Returns the free pages of every arena to the kernel (malloc_trim(0)); true if any
    /// were. glibc keeps freed memory for reuse: what start-up allocated and freed (the
    /// config, TOML, the plans of the containers) otherwise stays in RSS for good.
    @discardableResult
    public static func trim() -> Bool {
        berth_malloc_trim() != 0
    }
}
