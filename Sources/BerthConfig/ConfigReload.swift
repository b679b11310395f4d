/// What a reload may change. A reload re-reads the config and applies it whole or not at
/// all: app settings (code, workers, timeouts, queue, recycling, env, python) take effect
/// through a fresh generation of workers; listeners, routes, `[server]`, the set of apps
/// and their isolation are wired into the running front and launchers, so changing them
/// rejects the whole reload and the running config stays.
extension BerthConfig {
    /// Why `self` cannot replace `running` by a reload, naming the first key that differs;
    /// nil when it can.
    public func reloadBlocker(replacing running: BerthConfig) -> ConfigError? {
        func blocked(_ key: String) -> ConfigError {
            ConfigError(file: sourcePath, key: key, problem: "changed; a reload cannot apply this, restart berth (the running config stays)")
        }
        if listeners != running.listeners { return blocked("listen") }
        if server != running.server {
            let mine = Mirror(reflecting: server).children, theirs = Mirror(reflecting: running.server).children
            for (a, b) in zip(mine, theirs) where "\(a.value)" != "\(b.value)" {
                return blocked("server." + snakeCase(a.label ?? "?"))
            }
            return blocked("server")
        }
        let names = Set(apps.map(\.name)), runningNames = Set(running.apps.map(\.name))
        if let added = names.subtracting(runningNames).sorted().first { return blocked("app.\(added)") }
        if let removed = runningNames.subtracting(names).sorted().first {
            return ConfigError(file: sourcePath, key: "app.\(removed)", problem: "was removed; a reload cannot stop an app, restart berth (the running config stays)")
        }
        if routes != running.routes { return blocked("route") }
        if mimeTypes != running.mimeTypes { return blocked("mime") }
        for app in apps {
            guard let old = running.app(named: app.name) else { continue }
            if app.isolation != old.isolation { return blocked("app.\(app.name).isolation") }
            // A container's root holds exactly the interpreter's prefixes and the app's directory.
            if app.isolation.enabled && (app.python ?? python) != (old.python ?? running.python) {
                return blocked("app.\(app.name).python")
            }
            if app.isolation.enabled && app.chdir != old.chdir { return blocked("app.\(app.name).chdir") }
        }
        return nil
    }
}

func snakeCase(_ name: String) -> String {
    var out = ""
    for character in name {
        if character.isUppercase {
            out += "_" + character.lowercased()
        } else {
            out.append(character)
        }
    }
    return out
}
