#!/usr/bin/env bash
# Installs what berth's build, samples and tests need on a Debian 12 machine, once:
# Debian packages (as root), then .venv with the sample's and the tests' requirements.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
# nginx and openssl: the reverse proxy and TLS end-to-end tests (nginx in front of berth,
# throwaway certificates made at test time). strace: the direct-output test watches the
# system calls a static response makes. python3-dev and gcc: the worker's optional C
# accelerator (python/berth_worker/_speedups.c), built below. gcc: berth-init, the
# containers' pid 1, built by `make build` (support/berth-init.c, freestanding: no libc).
for package in python3-venv python3-dev gcc libc6-dev curl pkg-config libseccomp-dev libnghttp2-dev nghttp2-client nginx openssl strace; do
    dpkg -s "$package" >/dev/null 2>&1 || need_packages+=("$package")
done
if [ ${#need_packages[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${need_packages[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "setup: run as root (or install ${need_packages[*]} yourself)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

# Debian's interpreter, not a pyenv shim: workers exec it, and containers must be able
# to read it (pyenv lives under a 0700 home).
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with /usr/bin/python3"
    /usr/bin/python3 -m venv .venv
fi
stamp=.venv/.berth-requirements
wanted=$(cat samples/mysite/requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing Python requirements into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -r samples/mysite/requirements.txt -r requirements-dev.txt
    echo "$wanted" > "$stamp"
fi

# The worker's C accelerator, for .venv's interpreter (skipped without Python.h; rebuilt
# when the source changed).
.venv/bin/python scripts/build-speedups.py
