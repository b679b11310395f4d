#!/usr/bin/env python3
"""Records how nginx 1.22 answers the static-file corpus: the expectations
tests/e2e/test_static_conformance.py holds berth to.

    python3 tests/conformance/record.py          # rewrites tests/conformance/expectations.json

nginx serves the fixture tree (fixture.py) at /s/ with `disable_symlinks on`, `gzip_static
on` + `gzip_vary on`, `charset utf-8` for text types and `absolute_redirect off`: the
closest nginx comes to berth's defaults.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import CORPUS  # noqa: E402
from fixture import PREFIX, make_tree  # noqa: E402
from wire import exchange, summarize  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """
worker_processes 1;
daemon off;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    server_tokens off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        absolute_redirect off;
        root {prefix}/empty;
        location {url_prefix} {{
            alias {root}/;
            disable_symlinks on;
            gzip_static on;
            gzip_vary on;
            charset utf-8;
            charset_types text/plain text/css text/xml application/javascript application/json;
        }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_version():
    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().split("/")[-1]


def main():
    work = Path(tempfile.mkdtemp(prefix="berth-conformance-"))
    proc = None
    try:
        root = make_tree(work / "tree")
        prefix = work / "nginx"
        (prefix / "empty").mkdir(parents=True)
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(CONF.format(prefix=prefix, port=port, url_prefix=PREFIX, root=root))
        proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"nginx did not start:\n{(prefix / 'error.log').read_text()}")
                time.sleep(0.05)
        recorded = {}
        for entry in CORPUS:
            recorded[entry["name"]] = summarize(*exchange("127.0.0.1", port, entry))
        out = {"recorded_with": f"nginx {nginx_version()}", "responses": recorded}
        (HERE / "expectations.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(recorded)} responses from nginx {nginx_version()}")
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
