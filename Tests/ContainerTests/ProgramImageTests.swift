import Foundation
import LinuxSystem
import Testing

/// What berth does once start-up is over: page out its own code and trim malloc's arenas.
/// Here the program is this test binary, as big a static image as berth's.
@Suite("releasing start-up memory")
struct ProgramImageTests {
    /// Resident KiB of the executable's read-only, file-backed mappings (/proc/self/smaps).
    static func residentCodeKiB() throws -> Int {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var total = 0
        var inCode = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":"), fields.count >= 2 {
                inCode = fields.count >= 6 && fields[5] == exe && !fields[1].contains("w")
            } else if inCode, fields.first == "Rss:", fields.count >= 2, let kib = Int(fields[1]) {
                total += kib
            }
        }
        return total
    }

    @Test func pagesOutTheExecutablesCodeWhichComesBackOnUse() throws {
        let before = try Self.residentCodeKiB()
        let advised = try ProgramImage.releaseStartupPages()
        let after = try Self.residentCodeKiB()
        // Everything read-only of the image was advised: at least the code that ran so far.
        #expect(advised >= before * 1024 / 2)
        #expect(after < before, "resident code \(before) KiB before, \(after) KiB after")
        // Code paged out runs again when called (a fault brings it back).
        #expect(try Self.residentCodeKiB() > 0)
    }

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
