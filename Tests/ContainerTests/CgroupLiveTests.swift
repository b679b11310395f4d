import Foundation
import Testing

@testable import Container

/// Real cgroups beneath the test process's own, with real children moved into them (they
/// stay inside our subtree). Serialized: all tests share this process's `berth-<pid>`.
@Suite("cgroups on this machine", .serialized)
struct CgroupLiveTests {
    let hierarchy: CgroupHierarchy

    init() throws {
        hierarchy = try CgroupHierarchy.current()
    }

    @Test func detectsTheCgroupThisProcessIsIn() throws {
        for directory in Set(hierarchy.ownDirectories.values) {
            let members = try String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)
            #expect(members.split(separator: "\n").contains("\(getpid())"), "\(directory)")
        }
    }

    @Test func limitsAreWrittenAndAChildIsPlaced() throws {
        let cgroup = try WorkerCgroup.create(name: "test-limits", limits: Self.limits, in: hierarchy)
        defer { tearDown(cgroup) }

        let memory = cgroup.directories[.memory]!, cpu = cgroup.directories[.cpu]!, pids = cgroup.directories[.pids]!
        switch hierarchy.version {
        case .v1:
            #expect(try value(memory, "memory.limit_in_bytes") == "67108864")
            if FileManager.default.fileExists(atPath: memory + "/memory.memsw.limit_in_bytes") {
                #expect(try value(memory, "memory.memsw.limit_in_bytes") == "67108864")
            }
            #expect(try value(cpu, "cpu.cfs_quota_us") == "50000")
            #expect(try value(cpu, "cpu.cfs_period_us") == "100000")
            #expect(try cgroup.openDirectoryFD() == nil)
        case .v2:
            #expect(try value(memory, "memory.max") == "67108864")
            #expect(try value(cpu, "cpu.max") == "50000 100000")
            let fd = try #require(try cgroup.openDirectoryFD())
            close(fd)
        }
        #expect(try value(pids, "pids.max") == "16")

        let child = try TestChild(["/bin/sleep", "30"])
        defer { child.kill() }
        try cgroup.addProcess(child.pid)
        #expect(try cgroup.processIDs() == [child.pid])
        let placed = CgroupMembership.parse(try String(contentsOfFile: "/proc/\(child.pid)/cgroup", encoding: .utf8))
        for (id, path) in expectedPaths(name: "test-limits") {
            #expect(placed.first { $0.hierarchyID == id }?.path == path, "hierarchy \(id)")
        }

        child.kill()
        try cgroup.remove()
        for directory in cgroup.directories.values {
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) still there")
        }
    }

    @Test func memoryHogIsOOMKilledAndReported() throws {
        let cgroup = try WorkerCgroup.create(name: "test-oom", limits: Self.limits, in: hierarchy)
        defer { tearDown(cgroup) }
        #expect(try cgroup.memoryEvents().oomKilled == false)

        // The child waits for a line on stdin, so it allocates only once it is in the cgroup.
        let child = try TestChild(python: "import sys; sys.stdin.readline(); data = b'x' * (200 << 20); print(len(data))")
        defer { child.kill() }
        try cgroup.addProcess(child.pid)
        let process = child.release()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(process.terminationStatus == SIGKILL)

        let events = try cgroup.memoryEvents()
        #expect(events.oomKilled)
        #expect((events.oomKills ?? 1) >= 1)
        // (limitHits is not checked: Linux 6.18 leaves the v1 failcnt files at 0 here.)
        let peak = try cgroup.peakMemoryBytes()
        if let peak { #expect(peak > 32 << 20 && peak <= 64 << 20, "peak \(peak)") }
        try cgroup.remove()
    }

    @Test func forkBombStopsAtThePidsLimit() throws {
        let cgroup = try WorkerCgroup.create(name: "test-pids", limits: Self.limits, in: hierarchy)
        defer { tearDown(cgroup) }

        // Forks up to 50 children that wait for the pipe to close; fork fails with EAGAIN
        // (BlockingIOError) once the cgroup holds pids.max tasks: the parent and 15 children.
        let script = """
            import os, sys
            sys.stdin.readline()
            r, w = os.pipe()
            started = 0
            for _ in range(50):
                try:
                    pid = os.fork()
                except BlockingIOError:
                    break
                if pid == 0:
                    os.close(w)
                    os.read(r, 1)
                    os._exit(0)
                started += 1
            print(started, flush=True)
            os.close(w)
            for _ in range(started):
                os.wait()
            """
        let child = try TestChild(python: script)
        defer { child.kill() }
        try cgroup.addProcess(child.pid)
        let process = child.release()
        #expect(process.terminationStatus == 0)
        #expect(child.output() == "15")
        try cgroup.remove()
    }

    @Test func berthRootIsRemovedAtShutdown() throws {
        let cgroup = try WorkerCgroup.create(name: "test-root", limits: CgroupLimits(pidsMax: 4), in: hierarchy)
        defer { tearDown(cgroup) }
        #expect(throws: (any Error).self) {
            try WorkerCgroup.create(name: "test-root", limits: CgroupLimits(), in: hierarchy)
        }
        try cgroup.remove()
        try WorkerCgroup.removeBerthRoot(in: hierarchy)
        for root in hierarchy.berthRoots.values {
            #expect(!FileManager.default.fileExists(atPath: root), "\(root) still there")
        }
    }

    @Test func badNamesAndBadValuesLeaveNothingBehind() throws {
        #expect(throws: CgroupError.self) {
            try WorkerCgroup.create(name: "../escape", limits: CgroupLimits(), in: hierarchy)
        }
        // The kernel refuses a negative pids.max: the error names the file and errno, and
        // the half-made cgroup is gone.
        #expect {
            try WorkerCgroup.create(name: "test-invalid", limits: CgroupLimits(pidsMax: -5), in: hierarchy)
        } throws: { error in
            "\(error)".hasPrefix("write(") && "\(error)".contains("pids.max): EINVAL")
        }
        for root in hierarchy.berthRoots.values {
            #expect(!FileManager.default.fileExists(atPath: root + "/test-invalid"))
        }
        try WorkerCgroup.removeBerthRoot(in: hierarchy)
    }

    // MARK: - Helpers

    static let limits = CgroupLimits(memoryBytes: 64 << 20, cpuFraction: 0.5, pidsMax: 16)

    private func value(_ directory: String, _ file: String) throws -> String {
        try String(contentsOfFile: directory + "/" + file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Hierarchy ID → the path /proc/PID/cgroup should show for a child in worker `name`.
    private func expectedPaths(name: String) -> [Int: String] {
        let own = CgroupMembership.parse((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "")
        let wanted: [CgroupMembership]
        switch hierarchy.version {
        case .v2: wanted = own.filter { $0.hierarchyID == 0 }
        case .v1: wanted = own.filter { line in CgroupController.allCases.contains { line.controllers.contains($0.rawValue) } }
        }
        var paths: [Int: String] = [:]
        for line in wanted {
            paths[line.hierarchyID] = (line.path == "/" ? "" : line.path) + "/\(WorkerCgroup.berthRootName)/\(name)"
        }
        #expect(paths.count == (hierarchy.version == .v2 ? 1 : 3))
        return paths
    }

    /// Kills whatever is left in the cgroup (all of it ours) and removes it and berth-<pid>.
    private func tearDown(_ cgroup: WorkerCgroup) {
        for pid in (try? cgroup.processIDs()) ?? [] { Glibc.kill(pid, SIGKILL) }
        do { try cgroup.remove() } catch { Issue.record("cleanup: \(error)") }
        try? WorkerCgroup.removeBerthRoot(in: hierarchy)
    }
}

/// A child process started with Foundation.Process, stdin and stdout on pipes.
final class TestChild {
    let process = Process()
    private let input = Pipe()
    private let outputPipe = Pipe()

    var pid: pid_t { process.processIdentifier }

    convenience init(python script: String) throws {
        try self.init(["/usr/bin/python3", "-c", script])
    }

    init(_ argv: [String]) throws {
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardInput = input
        process.standardOutput = outputPipe
        try process.run()
    }

    /// Lets a child waiting on stdin go on, and waits for it to end.
    func release() -> Process {
        input.fileHandleForWriting.write(Data("go\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process
    }

    func output() -> String {
        String(decoding: outputPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SIGKILL and reap; harmless when it already ended.
    func kill() {
        if process.isRunning { Glibc.kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}
