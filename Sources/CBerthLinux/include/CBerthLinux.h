#ifndef CBERTHLINUX_H
#define CBERTHLINUX_H

#include <sys/types.h>

#include "CBerthContainer.h"

/// Spawns `path` with `argv`/`envp` (NULL-terminated; `envp` NULL: this process's
/// environment) via posix_spawn.
/// The child gets `child_fd` as fd `target_fd` (without close-on-exec) and no other
/// descriptor of the parent but 0, 1 and 2, starts in `cwd`
/// (NULL: inherit), with an empty signal mask and every signal at its default disposition
/// (the parent ignores SIGPIPE; a worker must not inherit that), in a new process group
/// when `new_process_group` is non-zero. Returns 0 and sets *pid, or an errno value.
int berth_spawn(const char *path, char *const argv[], char *const envp[], int child_fd,
                int target_fd, const char *cwd, int new_process_group, pid_t *pid);

/// pipe2(fds, O_CLOEXEC) (Glibc's Swift module does not declare pipe2). Returns 0, or -1
/// with errno set.
int berth_pipe_cloexec(int fds[2]);

/// openat2(dir_fd, path, flags) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: the kernel
/// refuses any path that would leave `dir_fd` — through "..", an absolute path or a
/// symlink — with EXDEV. Returns the new fd, or -errno.
int berth_open_beneath(int dir_fd, const char *path, int flags);

/// sendmsg of `length` bytes with `fd` attached (SCM_RIGHTS), EINTR retried, no SIGPIPE.
/// Returns the bytes sent, or -errno.
int berth_send_with_fd(int sock, const void *data, size_t length, int fd);

/// recvmsg of one byte with exactly one fd attached (SCM_RIGHTS), without waiting
/// (MSG_DONTWAIT), the new fd close-on-exec. 0 and `*fd` set, or -errno: -EAGAIN when
/// nothing waits, -EPIPE at end of file, -EBADMSG when the byte came without one fd.
int berth_receive_fd(int sock, int *fd);

/// accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) (a GNU extension Swift
/// cannot see without _GNU_SOURCE). The new connection's fd, or -errno.
int berth_accept_connection(int listener);

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants become our children. 0 or -errno.
int berth_become_child_subreaper(void);

/// pidfd_open(2): a descriptor for `pid` that becomes readable once it exits, whoever its
/// parent is (a process in a pid namespace below ours included). Returns it, or -errno.
int berth_pidfd_open(pid_t pid);

/// The number of CPUs this thread may run on (sched_getaffinity; CPU_COUNT is a macro
/// Swift cannot import), or -1.
int berth_usable_cpus(void);

/// malloc_trim(0) (malloc.h, which Swift's Glibc module does not import): gives the free
/// pages of every malloc arena back to the kernel. 1 if memory was released, else 0.
int berth_malloc_trim(void);

#endif
