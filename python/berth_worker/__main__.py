"""Command line: python -m berth_worker --fd 3 (--app M:C | --django SETTINGS) [--chdir DIR] [--zygote] [--threads N].

berth itself starts `python -c BOOTSTRAP --fd 3 ...` (Sources/berth/Stack.swift): the same
command line without `-m`, whose runpy (with importlib.util and importlib.machinery behind
it) cost every worker about 0.2 MiB it never used again.
"""

import os
import signal
import socket
import sys

from . import loader, zygote
from .stackdump import arm_stack_dump
from .protocol import (BOOT_ERROR, VERSION, Connection, GatewayGone, ProtocolError,
                       text_frame)
from .worker import run


USAGE = ('usage: python -m berth_worker [--fd FD] (--app MODULE:CALLABLE | --django SETTINGS_MODULE)\n'
         '                                [--chdir DIR] [--zygote] [--threads N]\n')
HELP = USAGE + '''
berth WSGI worker

options:
  --fd FD          inherited socketpair end (default 3)
  --app MODULE:CALLABLE
                   the WSGI app (or MODULE:FACTORY())
  --django SETTINGS_MODULE
                   a Django project's settings; its WSGI_APPLICATION is served
  --chdir DIR      chdir here and put it first on sys.path
  --zygote         import the app once, then fork a worker per FORK command (preload)
  --threads N      run N requests at once, one per thread (default 1)
'''


class Args:
    """The parsed command line (the attributes argparse would give)."""

    def __init__(self):
        self.fd, self.app, self.django, self.chdir = 3, None, None, None
        self.zygote, self.threads = False, 1


def _usage_error(message):
    sys.stderr.write('%spython -m berth_worker: error: %s\n' % (USAGE, message))
    sys.exit(2)


def _integer(option, text):
    try:
        return int(text)
    except ValueError:
        _usage_error('argument %s: invalid int value: %r' % (option, text))


def parse_args(argv):
    """Parse the command line; exit 2 with the usage on errors (as argparse did).

    Hand-written rather than argparse: berth is the only caller, and argparse (with
    gettext, shutil, bz2 and lzma behind it) cost every worker about 0.5 MiB.
    """
    args = Args()
    rest = list(sys.argv[1:] if argv is None else argv)
    while rest:
        option = rest.pop(0)
        if option in ('-h', '--help'):
            sys.stdout.write(HELP)
            sys.exit(0)
        if option == '--zygote':
            args.zygote = True
            continue
        option, eq, value = option.partition('=')
        if option not in ('--fd', '--app', '--django', '--chdir', '--threads'):
            _usage_error('unrecognized argument: %s' % option)
        if not eq:
            if not rest:
                _usage_error('argument %s: expected one argument' % option)
            value = rest.pop(0)
        if option == '--fd':
            args.fd = _integer(option, value)
        elif option == '--threads':
            args.threads = _integer(option, value)
        elif option == '--chdir':
            args.chdir = value
        elif option == '--app':
            args.app = value
        else:
            args.django = value
    if args.app is not None and args.django is not None:
        _usage_error('argument --django: not allowed with argument --app')
    if args.app is None and args.django is None:
        _usage_error('one of the arguments --app --django is required')
    if not 1 <= args.threads <= 256:
        _usage_error('--threads must be from 1 to 256')
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


BOOTSTRAP = 'from berth_worker.__main__ import launch; launch()'


def launch():
    """Run the worker and exit with its status: what BOOTSTRAP calls."""
    sys.exit(main())


if __name__ == '__main__':
    launch()
