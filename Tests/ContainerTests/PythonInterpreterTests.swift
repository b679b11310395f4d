import Foundation
import LinuxSystem
import Testing

@testable import Container

/// PythonInterpreter asks the real interpreter (through Processes.output: posix_spawn and a
/// pipe) where its files are, and resolves a script that stands for one.
@Suite struct PythonInterpreterTests {
    private static let python = "/usr/bin/python3"

    @Test func outputCapturesStandardOutputAndTheExitStatus() throws {
        let (status, output) = try Processes.output(of: "/bin/sh", arguments: ["sh", "-c", "printf 'one\\ntwo'; exit 3"])
        #expect(status == .exited(3))
        #expect(String(decoding: output, as: UTF8.self) == "one\ntwo")
    }

    @Test func outputReadsMoreThanOnePipeful() throws {
        let (status, output) = try Processes.output(of: Self.python, arguments: [Self.python, "-c", "import sys; sys.stdout.write('x' * 300000)"])
        #expect(status == .exited(0))
        #expect(output.count == 300_000)
    }

    @Test func outputOfAMissingProgramNamesIt() {
        #expect {
            _ = try Processes.output(of: "/nonexistent/berth-python", arguments: ["x"])
        } throws: { error in
            "\(error)".contains("posix_spawn") && "\(error)".contains("/nonexistent/berth-python") && "\(error)".contains("ENOENT")
        }
    }

    @Test func theChildKeepsOnlyTheStandardDescriptors() throws {
        let fd = open("/dev/null", O_RDONLY)  // not close-on-exec: must not reach the child
        defer { close(fd) }
        let (_, output) = try Processes.output(of: Self.python, arguments: [Self.python, "-c", "import os; print(sorted(os.listdir('/proc/self/fd')))"])
        // 0, 1, 2 and the listing's own descriptor.
        #expect(String(decoding: output, as: UTF8.self).split(separator: ",").count == 4)
    }

    @Test func factsNameThePrefixesAndTheExecutablesDirectory() throws {
        let facts = try PythonInterpreter.facts(Self.python)
        #expect(facts.paths.contains("/usr"))
        #expect(facts.paths.contains("/usr/bin"))
        #expect(Set(facts.paths).count == facts.paths.count)
    }

    @Test func aFailingInterpreterIsAnError() {
        #expect(throws: PythonInterpreter.NotFound.self) { try PythonInterpreter.facts("/bin/false") }
    }

    @Test func aBinaryIsItsOwnInterpreterAndAScriptIsAskedForTheRealOne() throws {
        #expect(try PythonInterpreter.realInterpreter(Self.python) == Self.python)
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("berth-shim-\(UUID().uuidString)").path
        try Data("#!/bin/sh\nexec \(Self.python) \"$@\"\n".utf8).write(to: URL(fileURLWithPath: script))
        defer { try? FileManager.default.removeItem(atPath: script) }
        chmod(script, 0o755)
        let real = try PythonInterpreter.realInterpreter(script)
        #expect(real.hasPrefix("/usr/bin/python3"))
        // A script that reports nothing useful is refused with a message that names it.
        try Data("#!/bin/sh\necho not-a-path\n".utf8).write(to: URL(fileURLWithPath: script))
        #expect {
            _ = try PythonInterpreter.realInterpreter(script)
        } throws: { error in
            "\(error)".contains(script) && "\(error)".contains("sys.executable")
        }
    }
}
