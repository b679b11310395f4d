// The post-clone child routine: "build a plan in Swift, run it in C".
//
// A child cloned from a multi-threaded process may not malloc or touch the Swift runtime:
// another thread could have held a lock at the moment of the clone. So everything here is a
// plain syscall (or a libc wrapper that is nothing more), on data the parent prepared.
//
// The fixed order (crun's container init is the model):
//   wait for the parent (id maps, cgroup) → signals to defaults → setgroups → ids →
//   cgroup namespace → hostname → mounts private → root tmpfs → planned steps (binds or
//   overlays, tmpfs, proc, links) → pivot_root → detach the old root → / read-only (unless
//   an overlay root) → chdir →
//   rlimits → drop every capability →
//   no_new_privs → fds → fork the worker under a tiny init (pid 1 reaps zombies) →
//   seccomp (last) → exec.
// Each failure writes {errno, step} to the error pipe and exits 127.
#define _GNU_SOURCE
#include "CBerthContainer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(BERTH_NS_MOUNT == CLONE_NEWNS && BERTH_NS_UTS == CLONE_NEWUTS && BERTH_NS_IPC == CLONE_NEWIPC
                   && BERTH_NS_USER == CLONE_NEWUSER && BERTH_NS_PID == CLONE_NEWPID && BERTH_NS_NET == CLONE_NEWNET,
               "berth_namespace values are the kernel's CLONE_NEW* flags");
_Static_assert(BERTH_RLIMIT_NPROC == RLIMIT_NPROC && BERTH_RLIMIT_AS == RLIMIT_AS,
               "BERTH_RLIMIT_NPROC and BERTH_RLIMIT_AS are the kernel's values");

static void append(char *buffer, size_t size, size_t *used, const char *text) {
    for (; text && *text && *used + 1 < size; text++) buffer[(*used)++] = *text;
    buffer[*used] = 0;
}

__attribute__((noreturn)) static void fail(int error_fd, const char *step, const char *object) {
    struct berth_child_error record;
    memset(&record, 0, sizeof record);
    record.error = errno;
    size_t used = 0;
    append(record.step, sizeof record.step, &used, step);
    if (object) {
        append(record.step, sizeof record.step, &used, " ");
        append(record.step, sizeof record.step, &used, object);
    }
    ssize_t ignored = write(error_fd, &record, sizeof record);
    (void)ignored;
    _exit(127);
}

// A bind mount's flags can only be changed by a remount that keeps the flags the kernel
// locked on it (nosuid, nodev, noexec, atime) when it came from a more privileged
// namespace; otherwise EPERM. So read them first (statfs reports them as ST_* = MS_*).
static int remount_bind(const char *target, unsigned long extra) {
    struct statfs info;
    if (statfs(target, &info) != 0) return -1;
    unsigned long keep = (unsigned long)info.f_flags
        & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
    return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | keep | extra, NULL);
}

static void run_steps(const struct berth_container_plan *plan, int error_fd) {
    for (int i = 0; i < plan->step_count; i++) {
        const struct berth_step *step = &plan->steps[i];
        switch (step->kind) {
        case BERTH_STEP_MKDIR:
            if (mkdir(step->target, 0755) != 0 && errno != EEXIST) fail(error_fd, "mkdir", step->target);
            break;
        case BERTH_STEP_TOUCH: {
            int fd = open(step->target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0) fail(error_fd, "create", step->target);
            close(fd);
            break;
        }
        case BERTH_STEP_BIND:
        case BERTH_STEP_DEVICE: {
            if (mount(step->source, step->target, NULL, MS_BIND | MS_REC, NULL) != 0)
                fail(error_fd, "bind mount", step->source);
            // A device node is useless on a nodev mount; everything else gets nodev.
            unsigned long flags = MS_NOSUID | (step->kind == BERTH_STEP_DEVICE ? 0 : MS_NODEV) | (step->writable ? 0 : MS_RDONLY);
            if (remount_bind(step->target, flags) != 0)
                fail(error_fd, step->writable ? "remount nosuid" : "remount read-only", step->target);
            break;
        }
        case BERTH_STEP_TMPFS:
            if (mount("tmpfs", step->target, "tmpfs", MS_NOSUID | MS_NODEV, step->data) != 0)
                fail(error_fd, "mount tmpfs", step->target);
            break;
        case BERTH_STEP_OVERLAY:
            // In a user namespace since Linux 5.11; `userxattr` (in the planned data) keeps
            // overlay's own marks in user.* xattrs, the only ones this namespace may set.
            if (mount("overlay", step->target, "overlay", MS_NOSUID | MS_NODEV, step->data) != 0)
                fail(error_fd, "mount overlay", step->target);
            break;
        case BERTH_STEP_PROC:
            if (mount("proc", step->target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
                fail(error_fd, "mount proc", step->target);
            break;
        case BERTH_STEP_SYMLINK:
            if (symlink(step->source, step->target) != 0 && errno != EEXIST) fail(error_fd, "symlink", step->target);
            break;
        default:
            errno = EINVAL;
            fail(error_fd, "unknown step", NULL);
        }
    }
}

static void drop_capabilities(int error_fd) {
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(error_fd, "drop capability bound", NULL);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) fail(error_fd, "capset", NULL);
}

// Closes every descriptor above 2 except the `count` in `keep` (negative ones ignored).
static void close_other_fds(const int *keep, int count, int error_fd) {
    int sorted[4];
    int n = 0;
    for (int i = 0; i < count && n < 4; i++) {
        if (keep[i] <= 2) continue;
        int j = n;
        while (j > 0 && sorted[j - 1] > keep[i]) { sorted[j] = sorted[j - 1]; j--; }
        sorted[j] = keep[i];
        n++;
    }
    unsigned int from = 3;
    for (int i = 0; i < n; i++) {
        if ((unsigned)sorted[i] > from && syscall(SYS_close_range, from, (unsigned)sorted[i] - 1, 0) != 0)
            fail(error_fd, "close_range", NULL);
        if ((unsigned)sorted[i] + 1 > from) from = (unsigned)sorted[i] + 1;
    }
    if (syscall(SYS_close_range, from, ~0U, 0) != 0) fail(error_fd, "close_range", NULL);
}

// Replaces this process (pid 1, a fork of berth holding a copy of all its mappings) with
// berth-init, which runs the same loop as init_loop in a few pages. Returns only if the exec
// failed: init_loop then does the work here.
static void exec_small_init(int init_fd, pid_t worker, int outlives_main) {
    if (init_fd < 0) return;
    char pid_text[16];
    int length = 0;
    char digits[16];
    for (unsigned value = (unsigned)worker; length == 0 || value > 0; value /= 10) digits[length++] = (char)('0' + value % 10);
    for (int i = 0; i < length; i++) pid_text[i] = digits[length - 1 - i];
    pid_text[length] = 0;
    char *argv[] = {"berth-init", pid_text, outlives_main ? "1" : "0", NULL};
    char *envp[] = {NULL};
    syscall(SYS_execveat, init_fd, "", argv, envp, AT_EMPTY_PATH);
}

// pid 1 of the container: it reaps every orphan (zombies would otherwise pile up against
// the pids limit) and exits with the worker's status, which takes the namespace down.
// With `outlives_main` (a preload zygote) it keeps the namespace up until its last child
// (a forked worker, reparented here) is gone: a zygote that exits or crashes must not take
// the workers it forked down with it. It then exits with the zygote's status.
__attribute__((noreturn)) static void init_loop(pid_t worker, int outlives_main) {
    int main_status = -1;
    for (;;) {
        int status = 0;
        pid_t done = waitpid(-1, &status, 0);
        if (done == worker && outlives_main) {
            main_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        } else if (done == worker) {
            if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
            _exit(WEXITSTATUS(status));
        }
        if (done < 0 && errno == ECHILD) _exit(main_status < 0 ? 0 : main_status);
    }
}

__attribute__((noreturn)) static void child_main(const struct berth_container_plan *plan, int release_fd, int error_fd) {
    // Die with berth even while waiting for it.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    char go = 0;
    if (read(release_fd, &go, 1) != 1) _exit(126);  // the parent gave up on us
    close(release_fd);

    // berth ignores SIGPIPE and handles SIGTERM/SIGINT/SIGHUP; ignored signals survive
    // exec, and a worker must start from the defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);

    // Raw syscalls, not glibc's setgroups/setresuid: those change the ids of every thread
    // glibc knows of, and in a child cloned from a multi-threaded process they can wait
    // forever for threads that do not exist here.
    if (syscall(SYS_setgroups, 0, NULL) != 0) fail(error_fd, "setgroups", NULL);
    // Become the container's root (a mapped id) before creating anything: files made with
    // an id the namespace cannot map fail with EOVERFLOW. It keeps every capability inside
    // the namespace (it is that namespace's root), so mounting still works; the price is
    // that bind sources must be readable by the unprivileged host id (no 0700 homes).
    if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) != 0) fail(error_fd, "setresgid", NULL);
    if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) != 0) fail(error_fd, "setresuid", NULL);
    // The id change cleared any parent-death signal; from here on, die with berth.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(error_fd, "pdeathsig", NULL);
    // The cgroup namespace is made now, after the parent placed us in our cgroup, so that
    // its root is the worker's own cgroup (cgroup v1 has no CLONE_INTO_CGROUP).
    if (unshare(CLONE_NEWCGROUP) != 0) fail(error_fd, "unshare cgroup namespace", NULL);
    if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) != 0) fail(error_fd, "sethostname", NULL);
    // Nothing done below may propagate to the host's mounts.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail(error_fd, "make mounts private", NULL);
    if (mount("tmpfs", plan->root, "tmpfs", MS_NOSUID | MS_NODEV, plan->root_options) != 0)
        fail(error_fd, "mount root tmpfs", plan->root);
    run_steps(plan, error_fd);

    // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the new.
    if (chdir(plan->root) != 0) fail(error_fd, "chdir", plan->root);
    if (syscall(SYS_pivot_root, ".", ".") != 0) fail(error_fd, "pivot_root", plan->root);
    if (umount2(".", MNT_DETACH) != 0) fail(error_fd, "detach the old root", NULL);
    if (chdir("/") != 0) fail(error_fd, "chdir", "/");
    if (!plan->root_writable && remount_bind("/", MS_RDONLY | MS_NOSUID | MS_NODEV) != 0)
        fail(error_fd, "remount / read-only", NULL);
    if (plan->workdir && chdir(plan->workdir) != 0) fail(error_fd, "chdir", plan->workdir);

    for (int i = 0; i < plan->rlimit_count; i++) {
        struct rlimit limit = {plan->rlimits[i].soft, plan->rlimits[i].hard};
        if (setrlimit(plan->rlimits[i].resource, &limit) != 0) fail(error_fd, "setrlimit", NULL);
    }
    drop_capabilities(error_fd);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(error_fd, "no_new_privs", NULL);
    // After the id change, which clears it: die with berth.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(error_fd, "pdeathsig", NULL);

    // The protocol socket must land on target_fd; move the error pipe out of its way.
    if (error_fd == plan->target_fd) {
        error_fd = fcntl(error_fd, F_DUPFD_CLOEXEC, plan->target_fd + 1);
        if (error_fd < 0) _exit(127);
    }
    if (plan->protocol_fd != plan->target_fd) {
        if (dup2(plan->protocol_fd, plan->target_fd) < 0) fail(error_fd, "dup2", NULL);
    } else if (fcntl(plan->target_fd, F_SETFD, 0) != 0) {
        fail(error_fd, "fcntl", NULL);
    }
    int keep[] = {plan->target_fd, error_fd, plan->init_fd};
    close_other_fds(keep, 3, error_fd);

    // A raw clone, not fork(): glibc's fork runs atfork handlers, which may allocate.
    pid_t worker = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (worker < 0) fail(error_fd, "fork the worker", NULL);
    if (worker > 0) {
        close(plan->target_fd);
        close(error_fd);
        exec_small_init(plan->init_fd, worker, plan->init_outlives_main);
        init_loop(worker, plan->init_outlives_main);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(error_fd, "pdeathsig", NULL);
    if (plan->seccomp_filter) {
        struct sock_fprog program = {plan->seccomp_length, (struct sock_filter *)plan->seccomp_filter};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0) fail(error_fd, "load seccomp filter", NULL);
    }
    execve(plan->path, plan->argv, plan->envp);
    fail(error_fd, "execve", plan->path);
}

int berth_container_clone(const struct berth_container_plan *plan, pid_t *pid, int *pidfd,
                          int *release_fd, int *error_fd) {
    int release[2], errors[2];
    if (pipe2(release, O_CLOEXEC) != 0) return errno;
    if (pipe2(errors, O_CLOEXEC) != 0) {
        int saved = errno;
        close(release[0]);
        close(release[1]);
        return saved;
    }
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = plan->namespaces | CLONE_PIDFD | (plan->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    if (plan->cgroup_fd >= 0) args.cgroup = (uint64_t)plan->cgroup_fd;
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child < 0) {
        int saved = errno;
        close(release[0]);
        close(release[1]);
        close(errors[0]);
        close(errors[1]);
        return saved;
    }
    if (child == 0) {
        close(release[1]);
        close(errors[0]);
        child_main(plan, release[0], errors[1]);
    }
    close(release[0]);
    close(errors[1]);
    *pid = (pid_t)child;
    *release_fd = release[1];
    *error_fd = errors[0];
    return 0;
}

int berth_container_release(int release_fd) {
    char go = 1;
    ssize_t written;
    do {
        written = write(release_fd, &go, 1);
    } while (written < 0 && errno == EINTR);
    int saved = written == 1 ? 0 : errno;
    close(release_fd);
    return saved;
}
