import Foundation
import LinuxSystem
import Logging
import NIOConcurrencyHelpers

/// Watches a project tree with inotify and calls `onChange` when Python source changes
/// (debounced: an editor's save is often several events).
final class DevWatcher: @unchecked Sendable {
    private let inotify: Inotify
    private let root: String
    private let logger: Logger
    private let onChange: @Sendable () -> Void
    private let pending = NIOLockedValueBox(false)
    private var directories: [Int32: String] = [:]

    private static let skipped: Set<String> = [
        ".git", ".hg", ".venv", "venv", "__pycache__", "node_modules", "staticfiles", "media", ".build", ".mypy_cache",
        ".pytest_cache",
    ]
    private static let mask = Inotify.closeWrite | Inotify.movedTo | Inotify.movedFrom | Inotify.create | Inotify.delete

    init(root: String, logger: Logger, onChange: @escaping @Sendable () -> Void) throws {
        self.inotify = try Inotify()
        self.root = root
        self.logger = logger
        self.onChange = onChange
        try watchTree(root)
    }

    private func watchTree(_ path: String) throws {
        let wd = try inotify.addWatch(path, mask: Self.mask)
        directories[wd] = path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in entries where !Self.skipped.contains(name) && !name.hasPrefix(".build") {
            var isDirectory: ObjCBool = false
            let child = path + "/" + name
            if FileManager.default.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue {
                try? watchTree(child)
            }
        }
    }

    /// Reads the tree's changes on a thread of its own until the watch ends.
    func start() throws(SystemError) {
        try Threads.detach { [self] in
            while true {
                guard let events = try? inotify.read() else { return }
                var changed: String?
                for event in events {
                    if event.mask & Inotify.isDirectory != 0 {
                        if event.mask & (Inotify.create | Inotify.movedTo) != 0, let parent = directories[event.watch],
                            !Self.skipped.contains(event.name)
                        {
                            try? watchTree(parent + "/" + event.name)
                        }
                        continue
                    }
                    if event.name.hasSuffix(".py") || event.mask & Inotify.overflow != 0 {
                        changed = (directories[event.watch] ?? root) + "/" + event.name
                    }
                }
                if let changed { schedule(changed) }
            }
        }
    }

    private func schedule(_ path: String) {
        let first = pending.withLockedValue { busy in
            defer { busy = true }
            return !busy
        }
        guard first else { return }
        let relative = path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            pending.withLockedValue { $0 = false }
            logger.info("\(relative) changed: reloading")
            onChange()
        }
    }
}
