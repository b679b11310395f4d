#ifndef CBERTH_CONTAINER_H
#define CBERTH_CONTAINER_H

#include <stdint.h>
#include <sys/types.h>

/// The namespaces a worker gets (the values of CLONE_NEW*; container.c checks they match).
enum berth_namespace {
    BERTH_NS_MOUNT = 0x00020000,
    BERTH_NS_UTS = 0x04000000,
    BERTH_NS_IPC = 0x08000000,
    BERTH_NS_USER = 0x10000000,
    BERTH_NS_PID = 0x20000000,
    BERTH_NS_NET = 0x40000000,
};

/// One step of assembling a worker's root filesystem, planned by Swift in the parent.
/// Paths are absolute host paths under the plan's staging root (`target`) or on the host
/// (`source`); the child only executes the steps, in order.
enum berth_step_kind {
    BERTH_STEP_MKDIR = 1,      ///< mkdir(target, 0755); EEXIST is fine
    BERTH_STEP_TOUCH = 2,      ///< create an empty file at target (a bind target for a file)
    BERTH_STEP_BIND = 3,       ///< bind-mount source on target (recursive); read-only unless `writable`
    BERTH_STEP_TMPFS = 4,      ///< mount a tmpfs on target with `data` (e.g. "mode=1777,size=64m")
    BERTH_STEP_PROC = 5,       ///< mount a fresh proc on target (before pivot_root: the kernel
                               ///< allows a new proc in a user namespace only while a full one is visible)
    BERTH_STEP_SYMLINK = 6,    ///< symlink(source, target)
    BERTH_STEP_DEVICE = 7,     ///< bind-mount the device node source on target (without nodev)
    BERTH_STEP_OVERLAY = 8,    ///< mount an overlay on target with `data` (lowerdir, upperdir,
                               ///< workdir, escaped by the planner); nosuid, nodev
};

struct berth_step {
    int kind;
    int writable;
    const char *source;
    const char *target;
    const char *data;
};

/// RLIMIT_NPROC and RLIMIT_AS, which Swift's Glibc module does not export (container.c
/// checks the values).
enum { BERTH_RLIMIT_NPROC = 6, BERTH_RLIMIT_AS = 9 };

struct berth_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

/// Everything the cloned child needs, prepared by the parent: nothing here is allocated
/// after the clone.
struct berth_container_plan {
    const char *label;            ///< for nothing but debugging
    const char *path;             ///< program to exec (path inside the new root)
    char *const *argv;
    char *const *envp;
    int protocol_fd;              ///< becomes fd `target_fd` (3) in the worker
    int target_fd;
    uint64_t namespaces;          ///< CLONE_NEW* flags
    int cgroup_fd;                ///< cgroup v2 directory fd for CLONE_INTO_CGROUP, or -1
    const char *root;             ///< staging directory that becomes "/"
    const char *root_options;     ///< the root tmpfs's mount data, e.g. "mode=0755,size=1m"
    int root_writable;            ///< non-zero: "/" stays writable (an overlay root), else
                                  ///< it is remounted read-only after pivot_root
    const struct berth_step *steps;
    int step_count;
    const char *workdir;          ///< inside the new root
    const char *hostname;         ///< NULL: keep
    uid_t uid;                    ///< ids inside the container (mapped by the parent)
    gid_t gid;
    const struct berth_rlimit *rlimits;
    int rlimit_count;
    const void *seccomp_filter;   ///< struct sock_filter array, or NULL
    unsigned short seccomp_length;
    int init_fd;                  ///< O_PATH descriptor of berth-init, exec'd as pid 1 once
                                  ///< the worker is forked; -1: pid 1 stays this fork of berth
    int init_outlives_main;       ///< non-zero: init exits when its last child does, not
                                  ///< with the process it exec'd (a preload zygote, whose
                                  ///< forked workers live on in the container)
};

/// Where a failed child says what failed: written to the error pipe, then the child exits.
struct berth_child_error {
    int32_t error;                ///< errno
    char step[120];               ///< e.g. "mount /proc"
};

/// Clones the container's first process (its init, pid 1 in the new pid namespace) with
/// clone3. The child blocks until `berth_container_release`: between the two, the parent
/// writes the id maps and, on cgroup v1, moves the pid into the worker's cgroups.
/// Returns 0, or an errno value for the clone itself.
int berth_container_clone(const struct berth_container_plan *plan, pid_t *pid, int *pidfd,
                          int *release_fd, int *error_fd);

/// Lets the child go on. Returns 0 or an errno value.
int berth_container_release(int release_fd);

#endif
