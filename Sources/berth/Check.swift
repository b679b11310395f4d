import ArgumentParser
import LinuxSystem
import BerthConfig

/// `berth check -c FILE`: validate a config without serving.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a config file: every problem is reported with its key; exit status 2 when invalid.")

    @Option(name: [.short, .customLong("config")], help: "The config file to check.")
    var config: String

    @Option(help: "Check with the defaults of this mode (dev or serve).")
    var mode: String = "serve"

    func run() throws {
        guard let mode = Mode(rawValue: mode) else {
            throw ValidationError("--mode: expected dev or serve, got \"\(self.mode)\"")
        }
        do {
            let loaded = try BerthConfig.load(path: config, mode: mode)
            try loaded.validateForServing()
            print("\(config): ok (\(loaded.listeners.count) listeners, \(loaded.apps.count) apps, \(loaded.routes.routes.count) routes)")
        } catch {
            printError(error.description)
            throw ExitCode(2)
        }
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        Descriptors.writeAll(2, string)
    }
}
