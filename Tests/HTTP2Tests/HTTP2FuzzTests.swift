import Foundation
@testable import HTTP2
import NIOCore
import Testing

/// Seeded random and mutated frame sequences fed to a server session the way the front
/// drives it (events acted on, bodies consumed, responses sent, output drained). Nothing may
/// crash, the output must always be whole frames, and the session's state must stay sane.
///
/// `swift test` runs a short pass; `make fuzz` sets BERTH_FUZZ_SECONDS for a longer one
/// and BERTH_FUZZ_SEED to replay a failure.
@Suite struct HTTP2FuzzTests {
    /// SplitMix64: small, fast, reproducible from its seed.
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func randomAndMutatedFrames() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["BERTH_FUZZ_SECONDS"].flatMap(Double.init) ?? 2
        let baseSeed = environment["BERTH_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64(Date().timeIntervalSince1970)
        let corpus = try validSequences()
        let deadline = Date().addingTimeInterval(seconds)
        var runs = 0
        var bytesFed = 0
        while Date() < deadline {
            let seed = baseSeed &+ UInt64(runs)
            var random = Random(state: seed)
            let input: [UInt8]
            switch random.next() % 3 {
            case 0: input = randomFrames(&random)
            case 1: input = mutate(corpus[Int(random.next() % UInt64(corpus.count))], &random)
            default: input = RawFrames.opening + mutate(randomFrames(&random, opening: false), &random)
            }
            bytesFed += input.count
            try drive(input, random: &random, seed: seed)
            runs += 1
        }
        print("HTTP2FuzzTests: \(runs) runs, \(bytesFed) bytes, seeds \(baseSeed)...\(baseSeed &+ UInt64(runs))")
        #expect(runs > 10)
    }

    /// Feeds `input` in random pieces and plays the front's part; fails on any broken invariant.
    private func drive(_ input: [UInt8], random: inout Random, seed: UInt64) throws {
        var settings = HTTP2Settings()
        settings.maxHeaderListSize = 4096
        settings.maxResets = 20
        let session = try HTTP2Session(role: .server, settings: settings)
        var open = Set<Int32>()
        var at = 0
        var failed = false
        while at < input.count && !failed {
            let piece = min(input.count - at, 1 + Int(random.next() % 512))
            do {
                try session.receive(ByteBuffer(bytes: input[at..<(at + piece)]))
            } catch {
                failed = true  // nghttp2 gave up on the connection: the front closes it
            }
            at += piece
            for event in session.takeEvents() {
                switch event {
                case .request(let id, let head, _):
                    #expect(id > 0 && id % 2 == 1, "seed \(seed): client streams are odd")
                    #expect(!(head.method.isEmpty), "seed \(seed): a request has a method")
                    open.insert(id)
                    if random.next() % 2 == 0 {
                        try? session.submitResponse(streamID: id, status: 200, headers: [("x", "y")], hasBody: true)
                        session.sendBody(streamID: id, ByteBuffer(repeating: 0x7a, count: Int(random.next() % 40_000)))
                        session.endBody(streamID: id)
                    }
                case .headersTooLarge(let id):
                    try? session.submitResponse(streamID: id, status: 431, headers: [], hasBody: false)
                case .data(let id, let chunk):
                    if random.next() % 4 != 0 { session.consume(streamID: id, count: chunk.readableBytes) }
                case .closed(let id, _):
                    open.remove(id)
                    #expect(session.queuedBytes(streamID: id) == 0, "seed \(seed): a closed stream keeps no queue")
                default:
                    break
                }
            }
            let output = try? session.output(maxBytes: 1 << 20)
            if let output {
                #expect(RawFrames.parse(output.bytes) != nil, "seed \(seed): output must be whole frames")
            }
            if !session.wantsRead && !session.wantsWrite { break }
        }
        #expect(open.count <= 128, "seed \(seed): streams stay within the concurrency limit")
        #expect(session.trackedStreams <= 3 * 128 + 1, "seed \(seed): per-stream records stay bounded")
    }

    /// Valid client conversations captured from an nghttp2 client session: the seeds for mutation.
    private func validSequences() throws -> [[UInt8]] {
        var sequences: [[UInt8]] = []
        for variant in 0..<4 {
            let client = try HTTP2Session(role: .client)
            for i in 0..<(1 + variant * 3) {
                let hasBody = i % 2 == 1
                let id = try client.submitRequest(
                    method: hasBody ? "POST" : "GET", authority: "fuzz.test", path: "/p/\(i)?q=\(variant)",
                    headers: [("user-agent", "fuzz"), ("cookie", "k=\(i)"), ("accept", "*/*")], hasBody: hasBody)
                if hasBody {
                    client.sendBody(streamID: id, ByteBuffer(repeating: 0x41, count: 3000 * (i + 1)))
                    client.endBody(streamID: id, trailers: variant == 2 ? [("x-trailer", "t")] : [])
                }
            }
            if variant == 3 { client.ping() }
            sequences.append(try client.output()?.bytes ?? [])
        }
        return sequences
    }

    private func randomFrames(_ random: inout Random, opening: Bool = true) -> [UInt8] {
        var out: [UInt8] = opening ? RawFrames.opening : []
        let count = 1 + Int(random.next() % 40)
        var stream: UInt32 = 1
        for _ in 0..<count {
            let type = UInt8(random.next() % 11)  // the ten known types and one unknown
            let flags = UInt8(truncatingIfNeeded: random.next())
            let streamID: UInt32 = random.next() % 5 == 0 ? UInt32(truncatingIfNeeded: random.next()) : stream
            var payload: [UInt8]
            switch type {
            case RawFrames.Kind.headers.rawValue where random.next() % 2 == 0:
                payload = RawFrames.hpack([(":method", "GET"), (":scheme", "http"), (":path", "/r"), (":authority", "a")])
                stream += 2
            case RawFrames.Kind.settings.rawValue:
                payload = (0..<Int(random.next() % 4)).flatMap { _ in
                    [0, UInt8(random.next() % 8)] + RawFrames.be32(UInt32(truncatingIfNeeded: random.next()))
                }
            default:
                payload = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            out += RawFrames.frame(type, flags: flags, stream: streamID, payload)
        }
        return out
    }

    private func mutate(_ input: [UInt8], _ random: inout Random) -> [UInt8] {
        var bytes = input
        guard !bytes.isEmpty else { return bytes }
        for _ in 0..<(1 + Int(random.next() % 8)) {
            let at = Int(random.next() % UInt64(bytes.count))
            switch random.next() % 5 {
            case 0: bytes[at] ^= UInt8(1 << (random.next() % 8))
            case 1: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            case 2: bytes.removeSubrange(at..<min(bytes.count, at + Int(random.next() % 16)))
            case 3: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + Int(random.next() % 32))], at: at)
            default: bytes = Array(bytes[..<at])  // truncated mid-frame
            }
            if bytes.isEmpty { break }
        }
        return bytes
    }
}
