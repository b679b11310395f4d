#!/usr/bin/env python3
"""Build the worker's optional C accelerator (python/berth_worker/_speedups.c) in place,
for the interpreter that runs this script; `make setup` runs it with .venv/bin/python.

Skipped, with a note, when that interpreter's headers (Debian: python3-dev) or a C
compiler are missing: the worker then uses its pure-Python path. Rebuilds only when the
source is newer than the module.
"""

import os
import shutil
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, '..', 'python', 'berth_worker')


def main():
    source = os.path.join(PACKAGE, '_speedups.c')
    target = os.path.join(PACKAGE, '_speedups' + sysconfig.get_config_var('EXT_SUFFIX'))
    include = sysconfig.get_paths()['include']
    compiler = shutil.which(os.environ.get('CC', 'cc')) or shutil.which('gcc')
    if not os.path.exists(os.path.join(include, 'Python.h')):
        print('setup: no Python.h in %s (Debian: python3-dev); the worker uses its '
              'pure-Python path' % include)
        return 0
    if compiler is None:
        print('setup: no C compiler; the worker uses its pure-Python path')
        return 0
    if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(source):
        return 0
    argv = [compiler, '-O2', '-Wall', '-fPIC', '-shared', '-I', include,
            '-o', target + '.tmp', source]
    print('setup: building %s' % os.path.relpath(target))
    result = subprocess.run(argv)
    if result.returncode != 0:
        print('setup: building the C accelerator failed (%s)' % ' '.join(argv), file=sys.stderr)
        return result.returncode
    os.replace(target + '.tmp', target)
    return 0


if __name__ == '__main__':
    sys.exit(main())
