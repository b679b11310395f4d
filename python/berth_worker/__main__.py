"""Command line: python -m berth_worker --fd 3 (--app M:C | --django SETTINGS) [--chdir DIR] [--zygote] [--threads N]."""

import argparse
import os
import signal
import socket
import sys

from . import loader, zygote
from .stackdump import arm_stack_dump
from .protocol import (BOOT_ERROR, VERSION, Connection, GatewayGone, ProtocolError,
                       text_frame)
from .worker import run


def parse_args(argv):
    """Parse the command line (argparse exits 2 on errors)."""
    p = argparse.ArgumentParser(prog='python -m berth_worker',
                                description='berth WSGI worker')
    p.add_argument('--fd', type=int, default=3, help='inherited socketpair end')
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument('--app', metavar='MODULE:CALLABLE')
    what.add_argument('--django', metavar='SETTINGS_MODULE')
    p.add_argument('--chdir', metavar='DIR', help='chdir here and put it first on sys.path')
    p.add_argument('--zygote', action='store_true',
                   help='import the app once, then fork a worker per FORK command (preload)')
    p.add_argument('--threads', type=int, default=1, metavar='N',
                   help='run N requests at once, one per thread (default 1)')
    args = p.parse_args(argv)
    if not 1 <= args.threads <= 256:
        p.error('--threads must be from 1 to 256')
    return args


def boot(args):
    """Load the app; return (app, READY facts)."""
    if args.chdir:
        path = os.path.abspath(args.chdir)
        os.chdir(path)
        sys.path.insert(0, path)
    facts = {'protocol': VERSION, 'pid': os.getpid(), 'app': args.app,
             'python': '%d.%d.%d' % sys.version_info[:3],
             'stack_fd': arm_stack_dump()}
    if args.app:
        return loader.load_wsgi_app(args.app), facts
    app, facts['app'] = loader.load_django_app(args.django)
    facts['django'] = loader.django_facts(args.django)
    return app, facts


def main(argv=None):
    """Run the worker; return the exit status."""
    args = parse_args(argv)
    # ^C in `berth dev` reaches the whole process group; the gateway stops
    # workers itself (STOP, closing the socket, SIGTERM), so ignore SIGINT
    # rather than die with a KeyboardInterrupt traceback mid-request.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sock = socket.socket(fileno=args.fd)
    except OSError as exc:
        sys.stderr.write('berth worker: --fd %d is not a socket: %s\n' % (args.fd, exc))
        return 2
    if hasattr(sys.stdout, 'reconfigure'):
        sys.stdout.reconfigure(line_buffering=True)  # an app's print() reaches the log now
    sock.setblocking(True)
    sock.set_inheritable(False)  # children of the app must not keep the socket open
    conn = Connection(sock)
    try:
        try:
            app, facts = boot(args)
        except BaseException as exc:  # SyntaxError, SystemExit, ... all are boot errors
            label = repr(args.app) if args.app else 'for Django settings %r' % args.django
            text = loader.boot_error_text(label, exc)
            sys.stderr.write(text)
            sys.stderr.flush()
            try:
                conn.sendall(text_frame(BOOT_ERROR, text))
            except GatewayGone:
                pass
            return 3
        if args.zygote:
            return zygote.serve(sock, app, facts, threads=args.threads)
        return run(conn, app, facts, freeze=True, threads=args.threads)
    except (EOFError, GatewayGone):
        pass
    except ProtocolError as exc:  # from the zygote's command loop
        sys.stderr.write('berth worker: protocol error: %s\n' % exc)
        return 4
    finally:
        sock.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
