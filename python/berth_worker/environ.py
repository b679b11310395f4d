"""The WSGI environ: base keys, the per-request keys, wsgi.errors and wsgi.file_wrapper."""

import sys

from .speedups import native


class ErrorStream:
    """wsgi.errors: text writes to the worker's current sys.stderr."""

    # Looked up on each call, not bound once, so that a later replacement of
    # sys.stderr (log capture, test runners) is honoured.
    __slots__ = ()

    def write(self, s):
        """Write a str to stderr."""
        return sys.stderr.write(s)

    def writelines(self, seq):
        """Write each str of seq to stderr."""
        sys.stderr.writelines(seq)

    def flush(self):
        """Flush stderr."""
        sys.stderr.flush()


class FileWrapper:
    """wsgi.file_wrapper (PEP 3333 "Optional Platform-Specific File Handling").

    Over a regular file the worker passes the descriptor to the gateway
    (RESPONSE_FILE, response.Response._send_file) and berth sends it with
    sendfile; otherwise the body is read in blocks and sent as RESPONSE_BODY.
    """

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def blocks(self, size):
        """Yield the file's remaining content in blocks of `size` bytes."""
        read = self.filelike.read
        while True:
            data = read(size)
            if not data:
                return
            yield data

    def close(self):
        """Close the wrapped file, if it can be closed."""
        close = getattr(self.filelike, 'close', None)
        if close is not None:
            close()


def base_environ():
    """Return the environ keys shared by every request of this worker."""
    return {
        'SERVER_SOFTWARE': 'berth',
        'wsgi.version': (1, 0),
        'wsgi.errors': ErrorStream(),
        'wsgi.multithread': False,
        'wsgi.multiprocess': True,
        'wsgi.run_once': False,
        # wsgi.input always ends at the end of the body, also for chunked
        # requests without CONTENT_LENGTH (the extension gunicorn and others set).
        'wsgi.input_terminated': True,
        'wsgi.file_wrapper': FileWrapper,
    }


def request_environ_py(base, block):
    """A copy of `base` with the key/value pairs of a REQUEST block (its payload decoded
    as latin-1: NUL-terminated strings, key then value)."""
    environ = base.copy()
    it = iter(block.split('\0'))
    environ.update(zip(it, it))  # the block's trailing NUL leaves one '' out
    return environ


# The C version does the same in one pass, without the intermediate list.
request_environ = native.environ if native is not None else request_environ_py
