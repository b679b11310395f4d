import ArgumentParser
import BerthConfig
import Dispatch
import Foundation
import Gateway
import HTTPFront
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Runs a stack until SIGTERM or SIGINT, then stops it gracefully.
enum Runner {
    static func run(config: BerthConfig, mode: Mode, environment: [String: String] = [:], watch: String? = nil) async throws {
        let stack: Stack
        do {
            stack = try Stack(config: config, mode: mode, environment: environment)
        } catch {
            printError("berth: \(error)")
            throw ExitCode(1)
        }
        let debugApps = NIOLockedValueBox<[String]>([])
        if mode == .serve {
            for (name, pool) in stack.pools {
                pool.onReady = { facts in
                    if ReadyFacts(facts)?.debug == true { debugApps.withLockedValue { $0.append(name) } }
                }
            }
        }
        do {
            try await stack.startPools()
        } catch let failure as BootFailure {
            printError("berth: the app failed to load, not serving:\n\(failure.message)")
            throw ExitCode(1)
        }
        let debugging = debugApps.withLockedValue { Set($0) }
        if !debugging.isEmpty && !config.server.debugAllowed {
            printError(
                "berth: refusing to serve Django with DEBUG=True in serve mode (app: \(debugging.sorted().joined(separator: ", "))); "
                    + "turn DEBUG off, use `berth dev`, or set server.debug_allowed = true")
            await stack.stop()
            throw ExitCode(1)
        }
        let bound: [HTTPServer.Address]
        do {
            bound = try await stack.bind()
        } catch {
            printError("berth: cannot listen: \(error)")
            await stack.stop()
            throw ExitCode(1)
        }
        for address in bound { say("berth: listening on \(address)") }
        var watcher: DevWatcher?
        if let watch {
            watcher = try DevWatcher(root: watch, logger: stack.logger) { stack.reload() }
            watcher?.start()
        }
        let signal = await Signals.wait(for: [SIGTERM, SIGINT], reload: SIGHUP) {
            stack.logger.info("SIGHUP: starting fresh workers")
            stack.reload()
        }
        stack.logger.info("\(signalName(signal)): stopping")
        _ = watcher
        await stack.stop()
    }

    static func signalName(_ signal: Int32) -> String {
        signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)"
    }
}

/// Signal handling through dispatch sources: handlers only enqueue work.
enum Signals {
    /// Waits for one of `stop`; runs `onReload` for each `reload` signal meanwhile.
    static func wait(for stop: [Int32], reload: Int32, onReload: @escaping @Sendable () -> Void) async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let fired = NIOLockedValueBox(false)
            var sources: [DispatchSourceSignal] = []
            for number in stop {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    let first = fired.withLockedValue { done in
                        defer { done = true }
                        return !done
                    }
                    if first { continuation.resume(returning: number) }
                }
                source.resume()
                sources.append(source)
            }
            signal(reload, SIG_IGN)
            let reloadSource = DispatchSource.makeSignalSource(signal: reload, queue: .global())
            reloadSource.setEventHandler(handler: onReload)
            reloadSource.resume()
            sources.append(reloadSource)
            SignalSources.keep(sources)
        }
    }
}

/// Keeps dispatch sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    static func keep(_ more: [DispatchSourceSignal]) { sources += more }
}
