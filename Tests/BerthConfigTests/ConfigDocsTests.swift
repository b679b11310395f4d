import Foundation
import Testing

@testable import BerthConfig

@Suite struct ConfigDocsTests {
    /// docs/configuration.md is generated; this fails when it is stale. Set
    /// BERTH_UPDATE_DOCS=1 to rewrite it.
    @Test func docsFileMatchesTheDeclarations() throws {
        let path = "\(repositoryRoot)/docs/configuration.md"
        let generated = ConfigDocs.markdown()
        if ProcessInfo.processInfo.environment["BERTH_UPDATE_DOCS"] == "1" {
            try generated.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            committed == generated,
            "docs/configuration.md is stale: run `BERTH_UPDATE_DOCS=1 swift test --filter ConfigDocsTests`")
    }

    @Test func everySettingIsDocumented() {
        let docs = ConfigDocs.markdown()
        let keys =
            ServerSettings.settings.map(\.key) + AppConfig.settings.map(\.key) + RouteDraft.settings.map(\.key)
            + ListenDraft.settings.map(\.key) + BerthConfig.settings.map(\.key)
            + IsolationConfig.settings.map(\.key)
        for key in keys {
            #expect(docs.contains("| `\(key)` |"), "\(key) is missing")
        }
        #expect(docs.contains("| `workers` | integer, 1–512 | `2` (dev: `1`) | `--workers` | Number of worker processes. |"))
        #expect(docs.contains("| `max_body_size` | size, 0–1t | `104857600` (100m) |"))
        #expect(docs.contains("## [app.NAME.isolation]"))
        #expect(docs.contains("| `enabled` | boolean | `true` (dev: `false`) | `--isolate` |"))
        #expect(docs.contains("| `memory` | size, 0–1t | `536870912` (512m) |"))
    }

    @Test func flagHelpComesFromTheSettings() {
        #expect(ConfigDocs.flagHelp("--workers") == "Number of worker processes. Default: 2 (dev: 1).")
        #expect(ConfigDocs.flagHelp("--bind") == "HOST:PORT, [IPv6]:PORT, :PORT (all interfaces) or unix:PATH.")
        #expect(
            ConfigDocs.flagHelp("--isolate")
                == "Run each worker in a container of its own (--no-isolate turns it off). Default: true (dev: false).")
        #expect(ConfigDocs.flagHelp("--nope") == nil)
    }
}
