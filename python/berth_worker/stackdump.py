"""The stack dump berth asks for when a request runs past its hard timeout."""

import faulthandler
import fcntl
import os
import signal

STACK_SIGNAL = signal.SIGUSR2


def arm_stack_dump():
    """Make SIGUSR2 write every thread's stack into a pipe; return its read end.

    berth reads a stuck worker's stack on a request timeout: it opens the read
    end through /proc/PID/fd (the number goes in READY as `stack_fd`) and sends
    the signal. faulthandler's handler is C run at signal delivery, so it
    answers even while the main thread is stuck in C code.
    """
    r, w = os.pipe()
    os.set_blocking(w, False)  # a full pipe truncates the dump, never blocks the handler
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (OSError, AttributeError):
        pass
    faulthandler.register(STACK_SIGNAL, file=w, all_threads=True)
    return r
