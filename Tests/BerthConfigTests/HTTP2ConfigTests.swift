import Testing

@testable import BerthConfig

@Suite struct HTTP2ConfigTests {
    @Test func defaults() {
        let h2 = ServerSettings(mode: .serve).http2
        #expect(h2.enabled)
        #expect(h2.maxConcurrentStreams == 128)
        #expect(h2.initialWindowSize == 256 << 10)
        #expect(h2.connectionWindowSize == 1 << 20)
        #expect(h2.maxHeaderListSize == 32768)
        #expect((h2.maxResets, h2.resetWindow) == (200, 10))
    }

    @Test func readsTheServerTable() throws {
        let config = try parse("""
            [server]
            http2 = false
            http2_max_concurrent_streams = 64
            http2_initial_window_size = "1m"
            http2_connection_window_size = "8m"
            http2_max_header_list_size = "64k"
            http2_max_resets = 50
            http2_reset_window = 2.5
            """)
        let h2 = config.server.http2
        #expect(!h2.enabled)
        #expect(h2.maxConcurrentStreams == 64)
        #expect(h2.initialWindowSize == 1 << 20)
        #expect(h2.connectionWindowSize == 8 << 20)
        #expect(h2.maxHeaderListSize == 65536)
        #expect((h2.maxResets, h2.resetWindow) == (50, 2.5))
    }

    @Test func badValuesNameTheKey() {
        #expect(errorLines("[server]\nhttp2_max_concurrent_streams = 0") == [
            "berth.toml: server.http2_max_concurrent_streams: must be an integer from 1 to 10000, got 0"
        ])
        #expect(errorLines("[server]\nhttp2_initial_window_size = 100") == [
            "berth.toml: server.http2_initial_window_size: must be a size in bytes from 16384 to 1g, got 100"
        ])
        #expect(errorLines("[server]\nhttp2 = \"yes\"") == [#"berth.toml: server.http2: must be true or false, got "yes""#])
    }
}
