import Foundation
import Testing

@testable import BerthConfig

@Suite struct FilesystemTests {
    /// A site with an executable interpreter, an app directory and a static directory.
    func site() throws -> TemporaryDirectory {
        let tmp = try TemporaryDirectory()
        try tmp.file("venv/bin/python", "#!/bin/sh\n", executable: true)
        try tmp.directory("app/static")
        return tmp
    }

    func writeConfig(_ tmp: TemporaryDirectory, _ body: String) throws -> String {
        try tmp.file("conf/berth.toml", body)
    }

    @Test func loadsAValidSite() throws {
        let tmp = try site()
        // The interpreter stays the path written, even when it is a symlink.
        try FileManager.default.createSymbolicLink(
            atPath: "\(tmp.path)/venv/bin/python3", withDestinationPath: "\(tmp.path)/venv/bin/python")
        let path = try writeConfig(
            tmp,
            """
            python = "../venv/bin/python3"
            [[listen]]
            bind = "unix:../berth.sock"
            [app.site]
            module = "site:app"
            chdir = "../app"
            [[route]]
            path = "/static/"
            static = "../app/static"
            [[route]]
            path = "/media/"
            static = "../app/media"
            create = true
            """)
        let config = try BerthConfig.load(path: path, mode: .serve)
        #expect(config.python == "\(tmp.path)/venv/bin/python3")
        #expect(config.apps.first?.chdir == "\(tmp.path)/app")
        #expect(config.listeners == [.unix(path: "\(tmp.path)/berth.sock")])
        #expect(config.sourcePath == path)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: "\(tmp.path)/app/media", isDirectory: &isDirectory))
        #expect(isDirectory.boolValue)
        try config.validateForServing()
    }

    @Test func filesystemProblemsNameTheirKeys() throws {
        let tmp = try site()
        try tmp.file("notadir", "x")
        try tmp.file("venv/bin/plain", "x")
        let path = try writeConfig(
            tmp,
            """
            python = "../venv/bin/missing"
            [server]
            access_log = "../nolog/access.log"
            [[listen]]
            bind = "unix:/nonexistent-berth-dir/s.sock"
            [app.a]
            module = "a:app"
            chdir = "../nowhere"
            [app.b]
            module = "b:app"
            chdir = "../app"
            python = "../venv/bin/plain"
            [app.c]
            module = "c:app"
            python = "no-such-python-berth"
            [[route]]
            path = "/static/"
            static = "../app/staticfiles"
            [[route]]
            path = "/file/"
            static = "../notadir"
            [[route]]
            path = "/"
            app = "a"
            """)
        let lines = errorLines { _ = try BerthConfig.load(path: path, mode: .serve) }
        let t = tmp.path
        #expect(
            lines == [
                "\(path): python: \(t)/venv/bin/missing does not exist",
                "\(path): app.a.chdir: directory \(t)/nowhere does not exist",
                "\(path): app.b.python: \(t)/venv/bin/plain is not executable",
                #"\#(path): app.c.python: "no-such-python-berth" is not on PATH"#,
                "\(path): route[0].static: directory \(t)/app/staticfiles does not exist (run `manage.py collectstatic`?)",
                "\(path): route[1].static: \(t)/notadir is not a directory",
                "\(path): server.access_log: cannot write \(t)/nolog/access.log: directory \(t)/nolog does not exist",
                "\(path): listen[0].bind: cannot create /nonexistent-berth-dir/s.sock: directory /nonexistent-berth-dir does not exist",
            ])
    }

    @Test func inheritedPythonIsReportedOnceUnderItsOwnKey() throws {
        let tmp = try site()
        let path = try writeConfig(
            tmp,
            """
            python = "../venv/bin/nope"
            [app.a]
            module = "a:app"
            chdir = "../app"
            """)
        #expect(
            errorLines { _ = try BerthConfig.load(path: path, mode: .serve) } == [
                "\(path): python: \(tmp.path)/venv/bin/nope does not exist"
            ])
    }

    @Test func flagsFixWhatTheFileGotWrongAndNameThemselves() throws {
        let tmp = try site()
        let path = try writeConfig(
            tmp,
            """
            [app.a]
            module = "a:app"
            chdir = "../nowhere"
            """)
        let fixed = try BerthConfig.load(
            path: path, mode: .serve, overrides: ConfigOverrides(chdir: "app", workingDirectory: tmp.path))
        #expect(fixed.apps.first?.chdir == "\(tmp.path)/app")

        let wrong = errorLines {
            _ = try BerthConfig.load(
                path: path, mode: .serve,
                overrides: ConfigOverrides(
                    python: "venv/bin/none", chdir: "gone", statics: ["/s/=missing"], workingDirectory: tmp.path))
        }
        #expect(
            wrong == [
                "--python: \(tmp.path)/venv/bin/none does not exist",
                "--chdir: directory \(tmp.path)/gone does not exist",
                "--static: directory \(tmp.path)/missing does not exist (run `manage.py collectstatic`?)",
            ])
    }

    @Test func isolationVolumesAreCreatedAndReadOnlyPathsMustExist() throws {
        let tmp = try site()
        try tmp.directory("app/media")
        try tmp.file("app/settings.conf", "x")
        let path = try writeConfig(
            tmp,
            """
            [app.site]
            module = "site:app"
            chdir = "../app"
            [app.site.isolation]
            volumes = ["../app/media", "../app/var/db"]
            read_only = ["../app/settings.conf", "../app/static"]
            """)
        let config = try BerthConfig.load(path: path, mode: .serve)
        #expect(config.apps[0].isolation.volumes == ["\(tmp.path)/app/media", "\(tmp.path)/app/var/db"])
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: "\(tmp.path)/app/var/db", isDirectory: &isDirectory))
        #expect(isDirectory.boolValue)
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(tmp.path)/app/var/db")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o755)
    }

    @Test func isolationPathProblemsNameTheirIndex() throws {
        let tmp = try site()
        try tmp.file("notadir", "x")
        let path = try writeConfig(
            tmp,
            """
            [app.site]
            module = "site:app"
            chdir = "../app"
            [app.site.isolation]
            volumes = ["../app/static", "../notadir/var", "../notadir", "../app/data"]
            read_only = ["../app", "../missing.conf"]
            """)
        let t = tmp.path
        // Without isolation the paths are not used, so not checked, and nothing is created.
        #expect(errorLines { _ = try BerthConfig.load(path: path, mode: .dev) } == [])
        #expect(
            errorLines {
                _ = try BerthConfig.load(path: path, mode: .serve, overrides: ConfigOverrides(isolate: false))
            } == [])
        #expect(!FileManager.default.fileExists(atPath: "\(t)/app/data"))

        #expect(
            errorLines { _ = try BerthConfig.load(path: path, mode: .serve) } == [
                "\(path): app.site.isolation.volumes[1]: cannot create \(t)/notadir/var: \(t)/notadir is not a directory",
                "\(path): app.site.isolation.volumes[2]: \(t)/notadir is not a directory",
                "\(path): app.site.isolation.read_only[1]: \(t)/missing.conf does not exist",
            ])
        #expect(FileManager.default.fileExists(atPath: "\(t)/app/data"))
    }

    @Test func missingFileAndSyntaxErrors() throws {
        let tmp = try site()
        #expect(
            errorLines { _ = try BerthConfig.load(path: "\(tmp.path)/none.toml", mode: .serve) } == [
                "\(tmp.path)/none.toml: no such file"
            ])
        let path = try writeConfig(tmp, "[server\n")
        let lines = errorLines { _ = try BerthConfig.load(path: path, mode: .serve) }
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("\(path):1:") == true)
    }
}
