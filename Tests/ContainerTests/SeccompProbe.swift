import Foundation

@testable import Container

/// Loads a compiled filter into a fresh Debian Python (ctypes: PR_SET_NO_NEW_PRIVS, then
/// PR_SET_SECCOMP with a `struct sock_fprog`, as the container child does) and reports, as a
/// flat JSON object of strings, what each probe got from the real kernel.
///
/// Every probed call carries arguments the kernel rejects or that change nothing (a missing
/// path, an invalid flag or magic number, a bad fd), so a filter that failed to block a call
/// still could not touch the host; and the probe stops before any call unless
/// PR_GET_SECCOMP reports filter mode.
enum SeccompProbe {
    static let python = "/usr/bin/python3"

    /// Runs the probe with `program` loaded and returns its findings.
    static func run(_ program: SeccompProgram) throws -> [String: String] {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-seccomp-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let filterFile = directory.appendingPathComponent("filter.bpf")
        try Data(program.bytes).write(to: filterFile)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-I", "-c", script, filterFile.path, directory.path]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let result = try JSONSerialization.jsonObject(with: data) as? [String: String]
        else {
            throw ProbeFailure(status: process.terminationStatus, stderr: errorText)
        }
        return result
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        let status: Int32
        let stderr: String
        var description: String { "seccomp probe exited \(status): \(stderr)" }
    }

    /// The x86_64 syscalls of the default profile that exist natively, each with harmless
    /// arguments; `getcwd` is a control that the default profile allows.
    static let script = #"""
        import ctypes, errno, json, mmap, os, resource, socket, subprocess, sys, threading

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        NOPE = "/nonexistent-berth-seccomp-probe"

        def name(code):
            return errno.errorcode.get(code, str(code))

        def call(nr, *args):
            cargs = []
            for a in args:
                if isinstance(a, str):
                    cargs.append(ctypes.c_char_p(a.encode()))
                elif a is None:
                    cargs.append(ctypes.c_void_p(None))
                else:
                    cargs.append(ctypes.c_long(a))
            ctypes.set_errno(0)
            result = libc.syscall(ctypes.c_long(nr), *cargs)
            return "OK" if result != -1 else name(ctypes.get_errno())

        def status(pid):
            _, code = os.waitpid(pid, 0)
            if os.WIFSIGNALED(code):
                return "signal %d" % os.WTERMSIG(code)
            return "exit %d" % os.WEXITSTATUS(code)

        def in_child(action):
            pid = os.fork()
            if pid == 0:
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                try:
                    action()
                finally:
                    os._exit(0)
            return status(pid)

        # i386 getpid (20) through int 0x80: mov eax, 20; int 0x80; ret.
        def int80():
            page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            page.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")
            address = ctypes.addressof(ctypes.c_char.from_buffer(page))
            ctypes.CFUNCTYPE(ctypes.c_int)(address)()

        # x32 getpid: 39 with __X32_SYSCALL_BIT.
        def x32():
            libc.syscall(ctypes.c_long(0x40000000 | 39))

        report = {"int80_unfiltered": in_child(int80), "x32_unfiltered": in_child(x32)}

        PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_GET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 21, 2
        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        data = open(sys.argv[1], "rb").read()
        buffer = ctypes.create_string_buffer(data, len(data))
        fprog = SockFprog(len(data) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            sys.exit("PR_SET_NO_NEW_PRIVS: " + name(ctypes.get_errno()))
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
            sys.exit("PR_SET_SECCOMP: " + name(ctypes.get_errno()))
        if libc.prctl(PR_GET_SECCOMP, 0, None, 0, 0) != 2:
            sys.exit("the filter is not in force")
        report["seccomp"] = "filter"

        cwd = ctypes.create_string_buffer(4096)
        PROBES = {
            "mount": (165, "none", NOPE, "tmpfs", 0, None), "umount2": (166, NOPE, 0),
            "pivot_root": (155, NOPE, NOPE), "chroot": (161, NOPE),
            "fsopen": (430, None, 0), "fsconfig": (431, -1, 0, None, None, 0),
            "fsmount": (432, -1, 0, 0), "fspick": (433, -1, NOPE, 0),
            "move_mount": (429, -1, NOPE, -1, NOPE, 0), "open_tree": (428, -1, NOPE, 0),
            "mount_setattr": (442, -1, NOPE, 0, None, 0),
            "unshare": (272, 0x10000000 | 0x1), "setns": (308, -1, 0),
            "ptrace": (101, 0x7fffffff, 0, 0, 0),
            "process_vm_readv": (310, 0x7fffffff, None, 0, None, 0, 0),
            "process_vm_writev": (311, 0x7fffffff, None, 0, None, 0, 0),
            "kcmp": (312, 0x7fffffff, 0x7fffffff, 0, 0, 0),
            "bpf": (321, 0x7fffffff, None, 0), "perf_event_open": (298, None, 0, -1, -1, 0),
            "userfaultfd": (323, 0x7fffffff), "io_uring_setup": (425, 0, None),
            "io_uring_enter": (426, -1, 0, 0, 0, None, 0), "io_uring_register": (427, -1, 0, None, 0),
            "keyctl": (250, 0x7fffffff, 0, 0, 0, 0), "add_key": (248, None, None, None, 0, 0),
            "request_key": (249, None, None, None, 0),
            "kexec_load": (246, 0, 0xffff, None, 0x8000),
            "kexec_file_load": (320, -1, -1, 0, None, 0x80000000),
            "init_module": (175, None, 0, None), "finit_module": (313, -1, None, 0),
            "delete_module": (176, "berth_probe_no_such_module", 0),
            "create_module": (174,), "get_kernel_syms": (177,), "query_module": (178,),
            "reboot": (169, 0, 0, 0, None), "swapon": (167, NOPE, 0), "swapoff": (168, NOPE),
            "acct": (163, NOPE), "syslog": (103, 0x7fff, None, 0),
            "quotactl": (179, 0x7fff00, None, 0, None), "quotactl_fd": (443, -1, 0, 0, None),
            "nfsservctl": (180,), "lookup_dcookie": (212, 0, None, 0), "uselib": (134, NOPE),
            "_sysctl": (156, None), "sysfs": (139, 0x7fff, 0, 0), "ustat": (136, 0, None),
            "settimeofday": (164, None, None), "clock_settime": (227, 0x7fffffff, None),
            "clock_adjtime": (305, 0x7fffffff, None), "adjtimex": (159, None),
            "open_by_handle_at": (304, -1, None, 0),
            "name_to_handle_at": (303, -1, NOPE, None, None, 0),
            "iopl": (172, 4), "ioperm": (173, 0xffffffff, 1, 0),
            "getcwd": (79, ctypes.addressof(cwd), 4096),
        }
        for key, (nr, *args) in PROBES.items():
            report[key] = call(nr, *args)

        # clone(2) with one namespace flag and CLONE_THREAD without CLONE_SIGHAND, which the
        # kernel refuses (EINVAL) before doing anything: only the filter can answer EPERM.
        CLONE_FLAGS = {"NEWNS": 0x20000, "NEWCGROUP": 0x2000000, "NEWUTS": 0x4000000,
                       "NEWIPC": 0x8000000, "NEWUSER": 0x10000000, "NEWPID": 0x20000000,
                       "NEWNET": 0x40000000, "none": 0}
        for flag, bits in CLONE_FLAGS.items():
            report["clone:" + flag] = call(56, bits | 0x10000, 0, None, None, 0)
        report["clone3"] = call(435, None, 0)

        for persona in (0xffffffff, 0x20008, 0x20000, 8, 0, 1 << 32, 0x40000, 0x400000, 0x20009,
                        0xfffffffe, 0x7fffffff, (1 << 32) | 0x40000):
            report["personality:%#x" % persona] = call(135, persona)
        call(135, 0)

        def fork():
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            return status(pid)
        report["fork"] = fork()
        report["subprocess"] = "exit %d" % subprocess.run(["/bin/true"]).returncode
        report["posix_spawn"] = status(os.posix_spawn("/bin/true", ["/bin/true"], {}))
        seen = []
        worker = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
        worker.start(); worker.join()
        report["thread"] = "ran" if seen and seen[0] != threading.get_native_id() else "did not run"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
        left, right = socket.socketpair()
        left.sendall(b"ping"); report["socketpair"] = right.recv(4).decode()
        path = os.path.join(sys.argv[2], "file.txt")
        with open(path, "w") as f:
            f.write("written")
        with open(path) as f:
            report["file"] = f.read()
        report["sockets"] = "OK"

        report["int80"] = in_child(int80)
        report["x32"] = in_child(x32)
        print(json.dumps(report))
        """#
}
