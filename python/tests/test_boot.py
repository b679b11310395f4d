"""Worker start-up: READY facts, app loading, BOOT_ERROR and the command line."""

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from gwclient import BOOT_ERROR, BOOTSTRAP, PYTHON_DIR, Worker

REPO = os.path.dirname(PYTHON_DIR)


class ReadyTest(unittest.TestCase):

    def test_ready_facts(self):
        with Worker('--app', 'hello:app') as w:
            stack_fd = w.facts.pop('stack_fd')
            self.assertEqual(w.facts, {
                'protocol': 1, 'pid': w.proc.pid, 'app': 'hello:app',
                'python': '%d.%d.%d' % sys.version_info[:3]})
            self.assertIsInstance(stack_fd, int)
            r = w.request('/')
            self.assertEqual((r.status, r.body), ('200 OK', b'Hello, world!'))

    def test_sigusr2_writes_every_threads_stack_into_the_stack_pipe(self):
        # What berth does on a request timeout: open the pipe's read end through /proc,
        # signal, read.
        with Worker('--app', 'hello:app') as w:
            fd = os.open('/proc/%d/fd/%d' % (w.proc.pid, w.facts['stack_fd']), os.O_RDONLY | os.O_NONBLOCK)
            try:
                os.kill(w.proc.pid, signal.SIGUSR2)
                ready, _, _ = select.select([fd], [], [], 5)
                self.assertTrue(ready, 'no stack within 5 s')
                time.sleep(0.1)
                dump = os.read(fd, 1 << 20).decode()
            finally:
                os.close(fd)
            self.assertIn('most recent call first', dump)
            self.assertIn('berth_worker', dump)
            # The worker goes on serving.
            self.assertEqual(w.request('/').body, b'Hello, world!')

    def test_factory(self):
        with Worker('--app', 'hello:make_app()') as w:
            self.assertEqual(w.facts['app'], 'hello:make_app()')
            self.assertEqual(w.request('/').body, b'from factory')

    def test_module_only_means_application(self):
        with Worker('--app', 'hello') as w:
            self.assertEqual(w.request('/').body, b'Hello, world!')

    def test_chdir_is_first_on_sys_path_and_cwd(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'hello.py'), 'w') as f:
                f.write('import os\n'
                        'def app(environ, start_response):\n'
                        '    start_response("200 OK", [("Content-Type", "text/plain")])\n'
                        '    return [os.getcwd().encode()]\n')
            with Worker('--app', 'hello:app', chdir=d) as w:  # shadows tests/apps/hello
                self.assertEqual(w.request('/').body.decode(), os.path.realpath(d))


class BootErrorTest(unittest.TestCase):

    def boot_error(self, *args, chdir=None, python_flags=()):
        kw = {'chdir': chdir} if chdir else {}
        with Worker(*args, ready=False, python_flags=python_flags, **kw) as w:
            text = w.expect(BOOT_ERROR).decode()
            self.assertEqual(w.wait(), 3)
            self.assertIn(text, w.output())
        return text

    def test_missing_module(self):
        text = self.boot_error('--app', 'nope_berth_mod:app')
        self.assertEqual(text.splitlines()[0],
                         "cannot load app 'nope_berth_mod:app': "
                         "ModuleNotFoundError: No module named 'nope_berth_mod'")
        self.assertIn('Traceback (most recent call last):', text)

    def test_import_error_inside_app(self):
        text = self.boot_error('--app', 'broken_import:app')
        self.assertEqual(text.splitlines()[0],
                         "cannot load app 'broken_import:app': "
                         "ModuleNotFoundError: No module named 'does_not_exist_berth_test'")
        self.assertIn('broken_import.py', text)

    def test_missing_callable(self):
        text = self.boot_error('--app', 'hello:nope')
        self.assertIn("AttributeError: module 'hello' has no attribute 'nope'",
                      text.splitlines()[0])

    def test_not_callable(self):
        text = self.boot_error('--app', 'hello:not_callable')
        self.assertIn('TypeError', text.splitlines()[0])

    def test_bad_spec(self):
        text = self.boot_error('--app', 'hello:1nope')
        self.assertIn('ValueError: expected MODULE:CALLABLE', text.splitlines()[0])

    def test_syntax_error(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'bad_syntax.py'), 'w') as f:
                f.write('def app(:\n')
            text = self.boot_error('--app', 'bad_syntax:app', chdir=d)
        self.assertTrue(text.startswith("cannot load app 'bad_syntax:app': SyntaxError"), text)
        self.assertIn('bad_syntax.py', text)

    def test_sys_exit_at_import(self):
        text = self.boot_error('--app', 'exits_at_import:app')
        self.assertIn('SystemExit: exiting during import', text.splitlines()[0])

    def test_missing_chdir(self):
        text = self.boot_error('--app', 'hello:app', chdir='/nonexistent/berth')
        self.assertIn('FileNotFoundError', text.splitlines()[0])

    def test_missing_django(self):
        # -S: no site-packages, so no Django even where the venv has it.
        text = self.boot_error('--django', 'mysite.settings', python_flags=('-S',))
        self.assertEqual(text.splitlines()[0],
                         "cannot load app for Django settings 'mysite.settings': "
                         "ModuleNotFoundError: No module named 'django'")


class LaunchTest(unittest.TestCase):
    """berth starts `python -c BOOTSTRAP`, not `python -m berth_worker` (runpy and the
    importlib machinery behind it stayed in every worker)."""

    def test_berth_runs_the_bootstrap_the_package_names(self):
        import berth_worker.__main__ as entry
        self.assertEqual(entry.BOOTSTRAP, BOOTSTRAP)
        with open(os.path.join(REPO, 'Sources', 'berth', 'Stack.swift')) as f:
            swift = f.read()
        self.assertIn('static let workerBootstrap = "%s"' % BOOTSTRAP, swift)

    def test_a_bootstrapped_worker_has_not_imported_runpy(self):
        unwanted = 'runpy,importlib.util,importlib.machinery'
        with Worker('--app', 'modules:app') as w:
            self.assertEqual(w.request('/', query=unwanted).body, b'')
            # The probe itself works: it names a module that is imported.
            self.assertEqual(w.request('/', query='runpy,berth_worker').body, b'berth_worker')


class CommandLineTest(unittest.TestCase):

    entry = ('-c', BOOTSTRAP)   # as berth runs it; ModuleEntryTest: `-m berth_worker`

    def run_worker(self, *args):
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
        return subprocess.run([sys.executable, *self.entry, *args], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)

    def test_app_or_django_required(self):
        p = self.run_worker('--fd', '3')
        self.assertEqual(p.returncode, 2)
        self.assertIn('--app', p.stderr)

    def test_app_and_django_exclusive(self):
        self.assertEqual(self.run_worker('--app', 'a:b', '--django', 's').returncode, 2)

    def test_fd_not_a_socket(self):
        p = self.run_worker('--fd', '0', '--app', 'hello:app')
        self.assertEqual(p.returncode, 2)
        self.assertIn('not a socket', p.stderr)

    def test_help(self):
        p = self.run_worker('--help')
        self.assertEqual(p.returncode, 0)
        self.assertIn('--django SETTINGS_MODULE', p.stdout)


class ModuleEntryTest(CommandLineTest):
    """`python -m berth_worker` (the documented command line) behaves the same."""

    entry = ('-m', 'berth_worker')


if __name__ == '__main__':
    unittest.main()
