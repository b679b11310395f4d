import Foundation

/// A Django project found on disk, for `berth dev` without a config file.
public struct DjangoProject: Sendable, Equatable {
    /// The directory holding manage.py; workers run and import from here.
    public var root: String
    /// The settings module, like `"mysite.settings"`.
    public var settingsModule: String

    public init(root: String, settingsModule: String) {
        self.root = root
        self.settingsModule = settingsModule
    }

    /// Finds the project in `directory` (or `directory` is manage.py itself). The settings
    /// module is the one manage.py passes to `os.environ.setdefault("DJANGO_SETTINGS_MODULE",
    /// ...)`; failing that, the only subdirectory with a settings.py.
    public static func discover(directory: String) throws(DjangoDiscoveryError) -> DjangoProject {
        let fm = FileManager.default
        var root = resolvePath(directory, against: fm.currentDirectoryPath)
        if (root as NSString).lastPathComponent == "manage.py" {
            root = (root as NSString).deletingLastPathComponent
        }
        let managePy = root + "/manage.py"
        guard let script = try? String(contentsOfFile: managePy, encoding: .utf8) else {
            let problem = fm.fileExists(atPath: managePy) ? "cannot read \(managePy)" : "no manage.py in \(root)"
            throw DjangoDiscoveryError(problem)
        }
        if let settings = settingsModule(inManagePy: script) {
            return DjangoProject(root: root, settingsModule: settings)
        }
        let packages = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted().filter {
            fm.fileExists(atPath: "\(root)/\($0)/settings.py")
        }
        guard packages.count == 1 else {
            let found = packages.isEmpty ? "" : " (several packages have a settings.py: \(packages.joined(separator: ", ")))"
            throw DjangoDiscoveryError("manage.py does not set DJANGO_SETTINGS_MODULE\(found)")
        }
        return DjangoProject(root: root, settingsModule: "\(packages[0]).settings")
    }

    /// The module in `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x.settings")`, with
    /// either quote style.
    static func settingsModule(inManagePy script: String) -> String? {
        let pattern = #/os\.environ\.setdefault\(\s*(["'])DJANGO_SETTINGS_MODULE\1\s*,\s*(["'])([A-Za-z0-9_.]+)\2\s*\)/#
        return script.firstMatch(of: pattern).map { String($0.output.3) }
    }
}

/// Why a Django project could not be found.
public struct DjangoDiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problem: String

    public init(_ problem: String) {
        self.problem = problem
    }

    public var description: String { problem }
}
