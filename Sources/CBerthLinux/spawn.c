#define _GNU_SOURCE
#include "CBerthLinux.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

int berth_spawn(const char *path, char *const argv[], char *const envp[], int child_fd,
                int target_fd, const char *cwd, int new_process_group, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    // dup2 onto the target clears FD_CLOEXEC on the copy; when the fd already has the
    // target number, dup2 is a no-op that keeps the flag, so glibc's posix_spawn treats
    // that case specially (it clears the flag since 2.29).
    rc = posix_spawn_file_actions_adddup2(&actions, child_fd, target_fd);
    // berth's other descriptors (client connections, the control socket, epoll) must not
    // leak into the worker: NIO does not open every socket close-on-exec, and a connection
    // a worker inherits stays open after berth closes it (the peer never sees EOF).
    // glibc 2.34+; the child keeps stdin/stdout/stderr and `target_fd` (a worker's protocol
    // socket, or stdout itself for a command whose output berth reads).
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, target_fd < 3 ? 3 : target_fd + 1);
    if (rc == 0 && cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);

    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (new_process_group) flags |= POSIX_SPAWN_SETPGROUP;
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0 && new_process_group) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp ? envp : environ);

    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int berth_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int berth_usable_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}
