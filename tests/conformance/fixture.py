"""The file tree both nginx (when recording) and berth (when testing) serve at /s/.

Everything is deterministic — contents, sizes and modification times — so responses can
be compared byte for byte, ETags and Last-Modified included.
"""
import gzip
import os
from pathlib import Path

MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z
PREFIX = "/s/"


def data_bytes(n):
    return bytes(i % 251 for i in range(n))


def make_tree(base):
    """Creates base/root (served) and base/outside (must never be served); returns root."""
    base = Path(base)
    root, outside = base / "root", base / "outside"
    for d in (root / "dir", root / "noindex", root / "dir" / "deeper", outside):
        d.mkdir(parents=True, exist_ok=True)
    files = {
        "data.bin": data_bytes(1000),
        "hello.txt": b"plain text file\n",
        "style.css": b"body { color: red }\n" * 20,
        "app.js": b"console.log('berth');\n",
        "page.html": b"<!doctype html><title>page</title><p>page</p>\n",
        "data.json": b'{"a": 1}\n',
        "image.png": b"\x89PNG\r\n\x1a\n" + data_bytes(200),
        "empty.txt": b"",
        "noext": b"no extension\n",
        "sp ace.txt": b"space in the name\n",
        "..dots.txt": b"a name that starts with two dots\n",
        "dir/index.html": b"<h1>dir index</h1>\n",
        "dir/deeper/file.txt": b"deeper\n",
        "noindex/file.txt": b"no index here\n",
        "comp.css": b".compressible { margin: 0 }\n" * 40,
    }
    for name, content in files.items():
        (root / name).write_bytes(content)
    # A precompressed sibling; mtime=0 in the gzip header keeps its bytes fixed.
    (root / "comp.css.gz").write_bytes(gzip.compress(files["comp.css"], mtime=0))
    (outside / "secret.txt").write_bytes(b"TOP-SECRET-CONTENT-outside-the-root\n")
    links = {"link-out.txt": "../outside/secret.txt", "linkdir-out": "../outside", "link-in.txt": "hello.txt"}
    for name, target in links.items():
        if not (root / name).is_symlink():
            os.symlink(target, root / name)
    for path in list(root.rglob("*")) + [root]:
        if not path.is_symlink():
            os.utime(path, (MTIME, MTIME))
    return root
