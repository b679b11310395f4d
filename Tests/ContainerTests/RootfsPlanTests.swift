import Testing

@testable import Container

@Suite("Root filesystem plan, as data")
struct RootfsPlanTests {
    /// A host where /bin and /lib are merged-/usr links and /lib64 a real directory.
    func host(_ path: String) -> (exists: Bool, isDirectory: Bool, symlinkTarget: String?) {
        switch path {
        case "/bin": return (true, true, "usr/bin")
        case "/lib": return (true, true, "usr/lib")
        case "/lib64": return (true, true, nil)
        case "/etc/passwd", "/etc/ld.so.cache": return (true, false, nil)
        case "/srv/app", "/srv/app/media", "/tmp/vol", "/venv": return (true, true, nil)
        default: return (false, false, nil)
        }
    }

    var steps: [RootfsStep] {
        RootfsPlan.steps(
            root: "/R", contents: RootfsContents(readOnly: ["/venv", "/srv/app", "/usr/lib/python3"], writable: ["/srv/app/media", "/tmp/vol"]),
            fileExists: host)
    }

    func index(_ step: RootfsStep) throws -> Int {
        try #require(steps.firstIndex(of: step), "missing \(step)")
    }

    @Test func mergedUsrLinksStayLinks() throws {
        #expect(steps.contains(.symlink(pointingTo: "usr/bin", at: "/R/bin")))
        #expect(steps.contains(.bind(source: "/lib64", target: "/R/lib64", writable: false)))
        #expect(!steps.contains { if case .bind(let source, _, _) = $0 { return source == "/bin" } else { return false } })
    }

    @Test func exactlyTheGrantedPathsAreBound() throws {
        let bound = steps.compactMap { step -> String? in
            if case .bind(let source, _, _) = step { return source }
            return nil
        }
        #expect(Set(bound) == ["/usr", "/lib64", "/etc/passwd", "/etc/ld.so.cache", "/venv", "/srv/app", "/srv/app/media", "/tmp/vol"])
        // /usr/lib/python3 is inside /usr: not bound twice.
        #expect(steps.contains(.bind(source: "/srv/app/media", target: "/R/srv/app/media", writable: true)))
        #expect(steps.contains(.bind(source: "/venv", target: "/R/venv", writable: false)))
    }

    @Test func orderKeepsEveryMountVisible() throws {
        // A tmpfs mounted over /tmp after the volume beneath it would hide the volume.
        #expect(try index(.tmpfs(target: "/R/tmp", options: "mode=1777,size=64m")) < index(.bind(source: "/tmp/vol", target: "/R/tmp/vol", writable: true)))
        // A writable volume inside the read-only app directory goes on top of it.
        #expect(try index(.bind(source: "/srv/app", target: "/R/srv/app", writable: false)) < index(.bind(source: "/srv/app/media", target: "/R/srv/app/media", writable: true)))
        // Files are created before they are bound over; /proc comes last.
        #expect(try index(.touch("/R/etc/passwd")) < index(.bind(source: "/etc/passwd", target: "/R/etc/passwd", writable: false)))
        #expect(steps.last == .proc(target: "/R/proc"))
    }

    @Test func devHoldsOnlyTheSafeNodes() {
        let devices = steps.compactMap { step -> String? in
            if case .device(let source, _) = step { return source }
            return nil
        }
        #expect(devices == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"])
    }
}
