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

    // MARK: overlay root

    var overlaySteps: [RootfsStep] {
        RootfsPlan.steps(
            root: "/R", contents: RootfsContents(readOnly: ["/venv", "/srv/app", "/usr/lib/python3"], writable: ["/srv/app/media", "/tmp/vol"]),
            layers: OverlayLayers(directory: "/L", size: 16 << 20), fileExists: host)
    }

    @Test func overlayRootOverlaysEveryGrantedDirectory() throws {
        let steps = overlaySteps
        let overlays = steps.compactMap { step -> String? in
            if case .overlay(let lower, _, _, let target) = step {
                #expect(target == "/R" + lower)
                return lower
            }
            return nil
        }
        #expect(Set(overlays) == ["/usr", "/lib64", "/venv", "/srv/app"])
        // Files stay read-only binds (an overlay needs a directory), volumes writable binds.
        #expect(steps.contains(.bind(source: "/etc/passwd", target: "/R/etc/passwd", writable: false)))
        #expect(steps.contains(.bind(source: "/srv/app/media", target: "/R/srv/app/media", writable: true)))
        #expect(!steps.contains { if case .bind(let source, _, false) = $0 { return source == "/usr" || source == "/srv/app" } else { return false } })
    }

    @Test func overlayLayersAreOnOnePrivateTmpfsMadeFirst() throws {
        let steps = overlaySteps
        #expect(steps.first == .tmpfs(target: "/L", options: "mode=0700,size=16777216"))
        var uppers: Set<String> = [], works: Set<String> = []
        for (index, step) in steps.enumerated() {
            guard case .overlay(_, let upper, let work, _) = step else { continue }
            #expect(upper.hasPrefix("/L/upper/") && work.hasPrefix("/L/work/"))
            // Each overlay has its own upper and work directory, made before the mount.
            #expect(uppers.insert(upper).inserted && works.insert(work).inserted)
            let before = steps[..<index]
            #expect(before.contains(.mkdir(upper)) && before.contains(.mkdir(work)))
        }
        #expect(uppers.count == 4)
    }

    @Test func overlayKeepsParentsBeforeChildren() throws {
        let steps = overlaySteps
        let app = try #require(steps.firstIndex { if case .overlay("/srv/app", _, _, _) = $0 { return true } else { return false } })
        let media = try #require(steps.firstIndex(of: .bind(source: "/srv/app/media", target: "/R/srv/app/media", writable: true)))
        #expect(app < media)
        #expect(steps.last == .proc(target: "/R/proc"))
    }

    @Test func overlayOptionsEscapeTheSeparators() {
        #expect(RootfsPlan.overlayOptions(lower: "/usr", upper: "/L/upper/0", work: "/L/work/0")
            == "lowerdir=/usr,upperdir=/L/upper/0,workdir=/L/work/0,userxattr")
        #expect(RootfsPlan.overlayOptions(lower: "/a,b:c\\d", upper: "/u", work: "/w")
            == "lowerdir=/a\\,b\\:c\\\\d,upperdir=/u,workdir=/w,userxattr")
    }

    @Test func readOnlyPlanHasNoOverlay() {
        #expect(!steps.contains { if case .overlay = $0 { return true } else { return false } })
    }
}
