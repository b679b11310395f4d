import Foundation
import Testing

@testable import BerthConfig

@Suite struct DjangoProjectTests {
    static let managePy = """
        #!/usr/bin/env python
        import os
        import sys

        def main():
            os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
        """

    @Test func readsTheSettingsModuleFromManagePy() throws {
        let tmp = try TemporaryDirectory()
        try tmp.file("site/manage.py", Self.managePy)
        let project = try DjangoProject.discover(directory: "\(tmp.path)/site")
        #expect(project == DjangoProject(root: "\(tmp.path)/site", settingsModule: "mysite.settings"))
        // The path of manage.py itself works too.
        #expect(try DjangoProject.discover(directory: "\(tmp.path)/site/manage.py") == project)
    }

    @Test(arguments: [
        #"os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings.dev")"#,
        #"os.environ.setdefault( 'DJANGO_SETTINGS_MODULE' ,"proj.settings.dev" )"#,
        "os.environ.setdefault(\n    \"DJANGO_SETTINGS_MODULE\",\n    \"proj.settings.dev\",\n)",
    ])
    func quoteStylesAndSpacing(line: String) {
        let script = line.hasSuffix(",\n)") ? line.replacingOccurrences(of: ",\n)", with: "\n)") : line
        #expect(DjangoProject.settingsModule(inManagePy: "import os\n\(script)\n") == "proj.settings.dev")
    }

    @Test func mismatchedQuotesAreNotASetting() {
        #expect(DjangoProject.settingsModule(inManagePy: #"os.environ.setdefault("DJANGO_SETTINGS_MODULE', 'x')"#) == nil)
    }

    @Test func fallsBackToTheOnlySettingsPackage() throws {
        let tmp = try TemporaryDirectory()
        try tmp.file("manage.py", "import django\n")
        try tmp.file("shop/settings.py")
        try tmp.file("shop/__init__.py")
        try tmp.directory("static")
        #expect(
            try DjangoProject.discover(directory: tmp.path)
                == DjangoProject(root: tmp.path, settingsModule: "shop.settings"))
    }

    @Test func clearErrors() throws {
        let tmp = try TemporaryDirectory()
        #expect(throws: DjangoDiscoveryError("no manage.py in \(tmp.path)")) {
            try DjangoProject.discover(directory: tmp.path)
        }
        try tmp.file("manage.py", "print('hi')\n")
        #expect(throws: DjangoDiscoveryError("manage.py does not set DJANGO_SETTINGS_MODULE")) {
            try DjangoProject.discover(directory: tmp.path)
        }
        try tmp.file("a/settings.py")
        try tmp.file("b/settings.py")
        #expect(
            throws: DjangoDiscoveryError(
                "manage.py does not set DJANGO_SETTINGS_MODULE (several packages have a settings.py: a, b)")
        ) {
            try DjangoProject.discover(directory: tmp.path)
        }
    }

    @Test func findsTheSampleProject() throws {
        let sample = "\(repositoryRoot)/samples/mysite"
        try #require(FileManager.default.fileExists(atPath: "\(sample)/manage.py"), "samples/mysite is missing")
        #expect(try DjangoProject.discover(directory: sample).settingsModule == "mysite.settings")
    }
}
