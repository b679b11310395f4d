import Foundation
import LinuxSystem
import Testing

/// What berth does once start-up is over: give malloc's free pages back.
@Suite("releasing start-up memory")
struct MallocHeapTests {
    @Test func trimGivesFreedHeapPagesBackAndKeepsLiveBlocks() {
        // 16 MiB freed below a block still in use: free() cannot shrink the heap past a
        // live block, so only malloc_trim can hand those pages back.
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<256 { blocks.append(malloc(64 * 1024)!) }
        for block in blocks { memset(block, 1, 64 * 1024) }
        let live = blocks.removeLast()
        memset(live, 7, 64 * 1024)
        for block in blocks { free(block) }
        #expect(MallocHeap.trim())
        #expect(live.load(fromByteOffset: 64 * 1024 - 1, as: UInt8.self) == 7)
        free(live)
    }
}
