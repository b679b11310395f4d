import Foundation

extension BerthConfig {
    /// Checks the filesystem facts the config relies on: static roots and app directories are
    /// directories, interpreters are executable, log and socket directories exist, and an
    /// isolated app's read-only paths exist. Static roots with `create = true` and isolated
    /// apps' volumes are created when missing.
    ///
    /// A missing static root is an error even though `collectstatic` may simply not have run
    /// yet: serving a route whose directory is absent would 404 every asset silently, so
    /// loading says what to do instead. Upload directories (media) set `create = true`, since
    /// nothing else would create them.
    public func validateFilesystem() throws(ConfigErrors) {
        var errors: [ConfigError] = []
        func report(_ id: String, defaultKey: String, _ problem: String) {
            let origin = origins[id] ?? Origin(file: sourcePath, key: defaultKey)
            errors.append(ConfigError(file: origin.file, key: origin.key, problem: problem))
        }

        if let python, let problem = programProblem(python) {
            report(CheckID.python, defaultKey: "python", problem)
        }
        for app in apps {
            if let problem = directoryProblem(app.chdir) {
                report(CheckID.chdir(app.name), defaultKey: "app.\(app.name).chdir", problem)
            }
            // An inherited interpreter was already reported under `python`.
            if let python = app.python, python != self.python, let problem = programProblem(python) {
                report(CheckID.python(app.name), defaultKey: "app.\(app.name).python", problem)
            }
            // Volumes are the app's writable data (uploads, a database): nothing else would
            // create them. They only matter to isolated workers.
            guard app.isolation.enabled else { continue }
            for (i, volume) in app.isolation.volumes.enumerated() {
                let key = "app.\(app.name).isolation.volumes[\(i)]"
                if !FileManager.default.fileExists(atPath: volume) {
                    if let problem = creationProblem(volume, permissions: 0o755) {
                        report(key, defaultKey: key, problem)
                    }
                } else if let problem = directoryProblem(volume) {
                    report(key, defaultKey: key, problem)
                }
            }
            for (i, path) in app.isolation.readOnly.enumerated() where !FileManager.default.fileExists(atPath: path) {
                let key = "app.\(app.name).isolation.read_only[\(i)]"
                report(key, defaultKey: key, "\(path) does not exist")
            }
        }
        for (i, route) in routes.routes.enumerated() {
            guard case .static(let files) = route.target else { continue }
            let key = "route[\(i)].static"
            if files.create, !FileManager.default.fileExists(atPath: files.root) {
                if let problem = creationProblem(files.root) {
                    report(CheckID.staticRoot(route), defaultKey: key, problem)
                }
                continue
            }
            if let problem = directoryProblem(files.root) {
                let hint = problem.hasSuffix("does not exist") ? " (run `manage.py collectstatic`?)" : ""
                report(CheckID.staticRoot(route), defaultKey: key, problem + hint)
            }
        }
        if case .file(let path) = server.accessLog {
            let directory = (path as NSString).deletingLastPathComponent
            if let problem = directoryProblem(directory) {
                report(CheckID.accessLog, defaultKey: "server.access_log", "cannot write \(path): \(problem)")
            }
        }
        if case .file(let path) = server.errorLog {
            let directory = (path as NSString).deletingLastPathComponent
            if let problem = directoryProblem(directory) {
                report("server.error_log", defaultKey: "server.error_log", "cannot write \(path): \(problem)")
            }
        }
        for (i, address) in listeners.enumerated() {
            // Certificates are parsed when serving starts; here only whether they can be read.
            if let tls = listenerOptions[address]?.tls {
                let files = [("tls_certificate", tls.certificate.certificate), ("tls_key", tls.certificate.key)]
                    + tls.sni.enumerated().flatMap { j, pair in
                        [("tls_sni[\(j)].certificate", pair.certificate), ("tls_sni[\(j)].key", pair.key)]
                    }
                for (key, file) in files where !FileManager.default.isReadableFile(atPath: file) {
                    let exists = FileManager.default.fileExists(atPath: file)
                    report("listen[\(i)].\(key)", defaultKey: "listen[\(i)].\(key)", "\(file) \(exists ? "is not readable" : "does not exist")")
                }
            }
            guard case .unix(let path) = address else { continue }
            let directory = (path as NSString).deletingLastPathComponent
            if let problem = directoryProblem(directory) {
                report(CheckID.listen(address), defaultKey: "listen[\(i)].bind", "cannot create \(path): \(problem)")
            }
        }
        // A CA bundle is parsed when serving starts; here only whether it can be read.
        for upstream in upstreams {
            guard let file = upstream.tlsCA, !FileManager.default.isReadableFile(atPath: file) else { continue }
            let key = "upstream.\(upstream.name).tls_ca"
            report(key, defaultKey: key, "\(file) \(FileManager.default.fileExists(atPath: file) ? "is not readable" : "does not exist")")
        }
        if !errors.isEmpty { throw ConfigErrors(errors) }
    }
}

private func directoryProblem(_ path: String) -> String? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        return "directory \(path) does not exist"
    }
    return isDirectory.boolValue ? nil : "\(path) is not a directory"
}

/// Creates the directory `path` and its missing parents (the last with `permissions`), or
/// says why it could not.
private func creationProblem(_ path: String, permissions: Int? = nil) -> String? {
    do {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: permissions.map { [.posixPermissions: $0] })
        return nil
    } catch {
        // Foundation reports a file in the way without its errno: name the file.
        var ancestor = (path as NSString).deletingLastPathComponent
        while ancestor != "/", !FileManager.default.fileExists(atPath: ancestor) {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        return "cannot create \(path): " + (directoryProblem(ancestor) ?? reason(error))
    }
}

/// Why `program` cannot be run: a path must be an executable file; a bare name must be
/// found on PATH.
private func programProblem(_ program: String) -> String? {
    let fm = FileManager.default
    guard program.contains("/") else {
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let found = searchPath.split(separator: ":").contains { directory in
            fm.isExecutableFile(atPath: "\(directory)/\(program)")
        }
        return found ? nil : "\(quoted(program)) is not on PATH"
    }
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: program, isDirectory: &isDirectory) else {
        return "\(program) does not exist"
    }
    if isDirectory.boolValue { return "\(program) is a directory, not a program" }
    return fm.isExecutableFile(atPath: program) ? nil : "\(program) is not executable"
}

private func reason(_ error: Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
        let code = POSIXErrorCode(rawValue: Int32(underlying.code))
    {
        return String(cString: strerror(code.rawValue))
    }
    return nsError.localizedDescription
}
