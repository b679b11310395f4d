// berth-init: pid 1 of a worker's container, exec'd by the container's first process once it
// has forked the worker (Sources/CBerthLinux/container.c). Until then pid 1 is a fork of
// berth, whose copy of berth's mappings costs megabytes of RSS per container for a loop of
// waitpid; this program holds a few pages.
//
// It reaps every orphan (zombies would otherwise pile up against the pids limit) and exits
// with the worker's status, which takes the namespace down. With `outlives` (a preload
// zygote) it keeps the namespace up until its last child (a forked worker, reparented here)
// is gone, then exits with the zygote's status.
//
// Freestanding: no libc, two system calls made directly (wait4, exit_group). Static glibc's
// start-up (IRELATIVE relocations resolved against the CPU, locale, stdio, TLS) touched
// about 0.6 MiB of its 650 KB of code in every container; this binary is a few KB and
// touches two pages of code. Built with -nostdlib -ffreestanding (Makefile, INIT_CFLAGS).
//
// Usage (argv, from container.c only): berth-init WORKER_PID OUTLIVES(0|1)

#define ECHILD 10

#if defined(__x86_64__)
#define SYS_wait4 61
#define SYS_exit_group 231

static long syscall4(long number, long a, long b, long c, long d) {
    register long r10 __asm__("r10") = d;
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return result;
}

// The kernel enters with argc at the stack pointer, argv after it; the ABI wants the stack
// 16-byte aligned at the call.
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n  hlt\n");

#elif defined(__aarch64__)
#define SYS_wait4 260
#define SYS_exit_group 94

static long syscall4(long number, long a, long b, long c, long d) {
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}

__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
        "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  bl start_c\n  brk #0\n");

#else
#error "berth-init: no system call entry for this architecture (x86_64 and aarch64 only)"
#endif

static __attribute__((noreturn)) void exit_group(int code) {
    for (;;) syscall4(SYS_exit_group, code, 0, 0, 0);
}

// A positive decimal pid, or 0 when `text` is not one.
static long parse_pid(const char *text) {
    long value = 0;
    if (!*text) return 0;
    for (; *text; text++) {
        if (*text < '0' || *text > '9' || value > 0x3fffffff) return 0;
        value = value * 10 + (*text - '0');
    }
    return value;
}

__attribute__((noreturn, used)) void start_c(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    if (argc != 3) exit_group(125);
    long worker = parse_pid(argv[1]);
    int outlives = argv[2][0] == '1';
    if (worker <= 0) exit_group(125);
    int main_status = -1;
    for (;;) {
        int status = 0;
        long done = syscall4(SYS_wait4, -1, (long)&status, 0, 0);
        if (done == worker) {
            // WIFSIGNALED / WTERMSIG / WEXITSTATUS, spelled out (no <sys/wait.h> here).
            int signal = status & 0x7f;
            int code = signal != 0 && signal != 0x7f ? 128 + signal : (status >> 8) & 0xff;
            if (!outlives) exit_group(code);
            main_status = code;
        }
        if (done == -ECHILD) exit_group(main_status < 0 ? 0 : main_status);
    }
}
