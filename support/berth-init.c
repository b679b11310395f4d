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
// Usage (argv, from container.c only): berth-init WORKER_PID OUTLIVES(0|1)
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 125;
    pid_t worker = (pid_t)strtol(argv[1], NULL, 10);
    int outlives = argv[2][0] == '1';
    if (worker <= 0) return 125;
    int main_status = -1;
    for (;;) {
        int status = 0;
        pid_t done = waitpid(-1, &status, 0);
        if (done == worker) {
            int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
            if (!outlives) _exit(code);
            main_status = code;
        }
        if (done < 0 && errno == ECHILD) _exit(main_status < 0 ? 0 : main_status);
    }
}
