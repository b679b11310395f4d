import ArgumentParser
import BerthConfig
import Dispatch
import Foundation
import Gateway
import HTTPFront
import LinuxSystem
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Runs a stack until SIGTERM or SIGINT, then stops it gracefully.
enum Runner {
    /// `reread` loads the config again for a reload (SIGHUP, `berth reload`); nil in dev
    /// mode, where a reload restarts the workers on the code as it is on disk.
    static func run(
        config: BerthConfig, mode: Mode, environment: [String: String] = [:], watch: String? = nil,
        reread: (@Sendable () throws -> BerthConfig)? = nil
    ) async throws {
        let signals = StopSignals()
        // One descriptor per connection: take every file the hard limit allows.
        let openFiles = try? ResourceLimits.raiseOpenFiles()
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
        // A fatal error after start stops berth the way SIGTERM does (requests finish, the
        // workers' cgroups and roots are cleaned up), then exits 1.
        let fatal = NIOLockedValueBox(false)
        // A stop signal while workers are still booting: clean up and leave at once.
        signals.onEarlyStop = { number in
            Task {
                stack.logger.info("\(signalName(number)) while starting: stopping")
                await stack.stop()
                exit(1)
            }
        }
        if let openFiles { stack.logger.debug("open file limit: \(openFiles)") }
        let reloads = ReloadRunner(stack: stack, reread: reread)
        signals.onReload = {
            stack.logger.info("SIGHUP: reloading")
            Task { _ = await reloads.run(coalescing: true) }
        }
        signals.onReopen = { stack.reopenLogs() }
        do {
            try await stack.startPools(onFatal: { message in
                stack.logger.critical("\(message)")
                fatal.withLockedValue { $0 = true }
                kill(getpid(), SIGTERM)
            })
        } catch let failure as BootFailure {
            printError("berth: the app failed to load, not serving:\n\(failure.message)")
            await stack.stop()
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
        let bound: [String]
        do {
            bound = try await stack.bind()
        } catch {
            printError("berth: cannot listen: \(error)")
            await stack.stop()
            throw ExitCode(1)
        }
        // Serving: from now on a stop signal is a graceful stop (wait() picks it up).
        signals.onEarlyStop = nil
        for address in bound { say("berth: listening on \(address)") }
        do {
            try await stack.startOperations(reload: { await reloads.run(coalescing: false) })
        } catch {
            printError("berth: cannot start the admin listener: \(error)")
            await stack.stop()
            throw ExitCode(1)
        }
        var watcher: DevWatcher?
        if let watch {
            do {
                let made = try DevWatcher(root: watch, logger: stack.logger) { stack.reload() }
                try made.start()
                watcher = made
            } catch {
                printError("berth: cannot watch \(watch) for changes: \(error)")
                await stack.stop()
                throw ExitCode(1)
            }
        }
        // Start-up is over: hand back the heap pages only it used (the config, TOML, the
        // containers' plans), which glibc would otherwise keep for reuse.
        MallocHeap.trim()
        let signal = await signals.wait()
        stack.logger.info("\(signalName(signal)): stopping")
        _ = watcher
        await stack.stop()
        if fatal.withLockedValue({ $0 }) { throw ExitCode(1) }
    }

    static func signalName(_ signal: Int32) -> String {
        signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)"
    }
}

/// Runs one reload at a time. A SIGHUP during a reload runs another right after it (the
/// file may have changed again); a `berth reload` during one is told to try again.
final class ReloadRunner: Sendable {
    private let stack: Stack
    private let reread: (@Sendable () throws -> BerthConfig)?
    private let state = NIOLockedValueBox<(running: Bool, again: Bool)>((false, false))

    init(stack: Stack, reread: (@Sendable () throws -> BerthConfig)?) {
        self.stack = stack
        self.reread = reread
    }

    func run(coalescing: Bool) async -> ControlReply {
        let busy = state.withLockedValue { state -> Bool in
            if state.running {
                if coalescing { state.again = true }
                return true
            }
            state.running = true
            return false
        }
        if busy {
            return ControlReply(ok: false, message: "a reload is in progress; try again when it is done")
        }
        var reply: ControlReply
        repeat {
            reply = await once()
        } while state.withLockedValue { state in
            defer { state.again = false }
            if !state.again { state.running = false }
            return state.again
        }
        return reply
    }

    private func once() async -> ControlReply {
        stack.reloadCertificates()
        guard let reread else {
            stack.reload()
            return ControlReply(ok: true, message: "starting fresh workers")
        }
        let config: BerthConfig
        do {
            config = try reread()
        } catch {
            stack.logger.error("reload rejected, the running config stays:\n\(error)")
            return ControlReply(ok: false, message: "reload rejected, the running config stays: \(error)")
        }
        return await stack.reload(to: config)
    }
}

/// Stop and reload signals through dispatch sources, installed when berth starts: handlers
/// only record the signal and wake whoever waits (gunicorn's arbiter: signals enqueue).
final class StopSignals: @unchecked Sendable {
    private let state = NIOLockedValueBox<(signal: Int32?, waiter: CheckedContinuation<Int32, Never>?)>((nil, nil))
    private var sources: [DispatchSourceSignal] = []
    /// Called for a stop signal that arrives before anyone waits (berth is still starting).
    var onEarlyStop: (@Sendable (Int32) -> Void)?
    var onReload: (@Sendable () -> Void)?
    /// SIGUSR1: reopen the log files.
    var onReopen: (@Sendable () -> Void)?

    init(stop: [Int32] = [SIGTERM, SIGINT], reload: Int32 = SIGHUP, reopen: Int32 = SIGUSR1) {
        for number in stop + [reload, reopen] {
            signal(number, SIG_IGN)  // dispatch sources need the default action off
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                if number == reload {
                    self?.onReload?()
                } else if number == reopen {
                    self?.onReopen?()
                } else {
                    self?.received(number)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    private func received(_ number: Int32) {
        let (waiter, first) = state.withLockedValue { state -> (CheckedContinuation<Int32, Never>?, Bool) in
            let first = state.signal == nil
            if first { state.signal = number }
            defer { state.waiter = nil }
            return (first ? state.waiter : nil, first)
        }
        if let waiter {
            waiter.resume(returning: number)
        } else if first {
            onEarlyStop?(number)
        }
    }

    /// Waits for a stop signal (returns at once if one already came).
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let pending = state.withLockedValue { state -> Int32? in
                if state.signal == nil { state.waiter = continuation }
                return state.signal
            }
            if let pending { continuation.resume(returning: pending) }
        }
    }
}
