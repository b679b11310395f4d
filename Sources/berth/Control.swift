import ArgumentParser
import BerthConfig
import Foundation

/// Where the control commands find a running berth.
struct ControlOptions: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "The running berth's config file (its server.control_socket is used).")
    var config: String?

    @Option(help: "The control socket's path (default: server.control_socket of -c, else the automatic location).")
    var socket: String?

    func socketPath() throws -> String {
        if let socket { return socket }
        if let config {
            let loaded: BerthConfig
            do {
                loaded = try BerthConfig.load(path: config, mode: .serve)
            } catch {
                printError(error.description)
                throw ExitCode(2)
            }
            guard let path = loaded.server.controlSocket.path else {
                printError("berth: \(config) turns the control socket off (server.control_socket = \"off\")")
                throw ExitCode(2)
            }
            return path
        }
        return ControlSocket.defaultPath()
    }

    /// Sends `command` and returns the decoded reply; exits 1 when berth cannot be reached.
    func send(_ command: String, timeout: Double) throws -> [String: Any] {
        let path = try socketPath()
        let text: String
        do {
            text = try ControlClient.send(command, to: path, timeout: timeout)
        } catch {
            printError("berth: cannot reach a running berth at \(path): \(error)")
            throw ExitCode(1)
        }
        guard let reply = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            printError("berth: unexpected reply from \(path): \(text)")
            throw ExitCode(1)
        }
        return reply
    }
}

/// `berth status`: workers, queue and restarts of a running berth.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running berth's apps: workers (state, pid, requests, memory, current request), queue, restarts.")

    @OptionGroup var control: ControlOptions

    @Flag(help: "Print the JSON document as berth sends it.")
    var json = false

    func run() throws {
        let reply = try control.send("status", timeout: 10)
        let status = reply["status"] as? [String: Any] ?? [:]
        if json {
            let data = try JSONSerialization.data(withJSONObject: status, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("berth pid \(status["pid"] ?? "?") (\(status["mode"] ?? "?"))\((status["config"] as? String).map { ", config \($0)" } ?? "")")
        for app in status["apps"] as? [[String: Any]] ?? [] {
            let workers = app["workers"] as? [[String: Any]] ?? []
            let restarts = (app["restarts"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            print("app \(app["app"] ?? "?"): generation \(app["generation"] ?? 0), \(workers.count) worker(s) "
                + "(serving \(app["workers_serving"] ?? 0), want \(app["workers_wanted"] ?? 0), min \(app["min_workers"] ?? 0), max \(app["max_workers"] ?? 0)), "
                + "queue \(app["queue_depth"] ?? 0)/\(app["queue_limit"] ?? 0), rejected \(app["rejected"] ?? 0), "
                + "restarts: \(restarts.isEmpty ? "none" : restarts.joined(separator: ", "))")
            for event in (app["scaling"] as? [[String: Any]] ?? []).suffix(5) {
                print(String(format: "  %.0f s ago: %@ worker %@: %@", event["age_seconds"] as? Double ?? 0, "\(event["action"] ?? "")",
                    "\(event["worker"] ?? "?")", "\(event["reason"] ?? "")"))
            }
            for worker in workers {
                var line = "  worker \(worker["id"] ?? "?") pid \(worker["python_pid"] ?? worker["pid"] ?? "?") \(worker["state"] ?? "?")"
                line += ", \(worker["requests_served"] ?? 0) requests"
                if let running = worker["running"] as? Int, running > 1 { line += ", \(running) running" }
                if let rss = worker["resident_bytes"] as? Int { line += String(format: ", %.1f MiB", Double(rss) / 1048576) }
                if let reason = worker["recycling"] as? String { line += ", replacing (\(reason))" }
                if let started = worker["started"] as? String, !started.isEmpty { line += ", started: \(started)" }
                if let current = worker["current"] as? [String: Any] {
                    line += String(format: ", now %@ %@ for %.1f s", "\(current["method"] ?? "")", "\(current["path"] ?? "")",
                        current["age_seconds"] as? Double ?? 0)
                }
                print(line)
            }
        }
    }
}

/// `berth reload`: re-read the config and swap in fresh workers (like SIGHUP, with an answer).
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reload a running berth: re-read its config, start new workers, retire the old ones once the new are ready.",
        discussion: """
            Talks to the running berth over its control socket and waits for the outcome:
            exit 0 when the new workers serve, 1 when the reload was rejected or failed (the
            running workers and config stay; the message names the key or the import error).
            """)

    @OptionGroup var control: ControlOptions

    func run() throws {
        let reply = try control.send("reload", timeout: Stack.reloadWithin + 10)
        let message = reply["message"] as? String ?? ""
        if reply["ok"] as? Bool == true {
            print("berth: \(message)")
        } else {
            printError("berth: \(message)")
            throw ExitCode(1)
        }
    }
}
