"""The config's global `[mime]` table: it extends and overrides the built-in content types
for every static route; a route's own `types` win over it; a bad entry names its key."""
import subprocess

import requests

from conftest import BERTH_BIN
from test_proxy import start_proxy

TIMEOUT = 15.0


def test_global_mime_table_and_route_types(start_berth, tmp_path):
    for name in ["a", "b"]:
        root = tmp_path / name
        root.mkdir()
        for file in ["x.webp2", "x.txt", "x.css", "x.unknownext"]:
            (root / file).write_text("data\n")
    berth = start_proxy(start_berth, tmp_path, f"""\
[mime]
webp2 = "image/webp2"
".TXT" = "text/x-custom"

[[route]]
path = "/a/"
static = "{tmp_path / 'a'}"

[[route]]
path = "/b/"
static = "{tmp_path / 'b'}"
types = {{ txt = "text/route" }}
""")

    def content_type(path):
        r = requests.get(berth.url + path, timeout=TIMEOUT)
        assert r.status_code == 200, (path, r.status_code)
        return r.headers["Content-Type"]

    assert content_type("/a/x.webp2") == "image/webp2"
    assert content_type("/a/x.txt") == "text/x-custom; charset=utf-8"
    assert content_type("/a/x.css") == "text/css; charset=utf-8"  # the built-in table stays
    assert content_type("/a/x.unknownext") == "application/octet-stream"
    assert content_type("/b/x.txt") == "text/route; charset=utf-8"  # the route's types win
    assert content_type("/b/x.webp2") == "image/webp2"  # the global table applies to every route


def test_bad_mime_entries_name_their_key(tmp_path):
    config = tmp_path / "berth.toml"
    for entry, expected in [
        ("webp2 = 3", 'mime.webp2: must be a content type like "image/webp", got 3'),
        ('"a/b" = "text/plain"', "mime.a/b: must be a file extension like webp"),
        ('ok = "not a type"', 'mime.ok: must be a content type like "image/webp", got "not a type"'),
        ('mime = "text/plain"', None),
    ]:
        body = f'[mime]\n{entry}\n' if expected else f'{entry}\n'
        config.write_text(f'{body}\n[[listen]]\nbind = "127.0.0.1:0"\n\n[[route]]\npath = "/"\nstatic = "."\n')
        done = subprocess.run([str(BERTH_BIN), "check", "-c", str(config)], capture_output=True, text=True, timeout=60)
        out = done.stdout + done.stderr
        assert done.returncode != 0, out
        assert f"{config}: " + (expected or 'mime: must be a table like { webp = "image/webp" }, got "text/plain"') in out, out
