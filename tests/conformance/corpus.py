"""The requests of the static-file conformance suite, sent as raw bytes to nginx 1.22
(record.py) and to berth (tests/e2e/test_static_conformance.py).

Each entry: name, method, target (sent as is), extra header lines. `differs` marks where
berth deliberately answers otherwise than nginx, and why: another `status`, some `headers`
with other values, or the answer nginx gave to another entry (`same_as`).
"""
from fixture import MTIME
import email.utils

LM = email.utils.formatdate(MTIME, usegmt=True)
LATER = email.utils.formatdate(MTIME + 3600, usegmt=True)
EARLIER = email.utils.formatdate(MTIME - 3600, usegmt=True)
ETAG_HELLO = '"%x-%x"' % (MTIME, 16)
ETAG_DATA = '"%x-%x"' % (MTIME, 1000)

RFC_IMS = ("RFC 9110 §13.1.3: not modified when the file is no newer than the date; nginx's default "
           "(if_modified_since exact) wants the exact date")
RFC_INM = "RFC 9110 §13.1.3: If-None-Match present means If-Modified-Since is ignored"
RFC_IUS = "RFC 9110 §13.1.4: an invalid If-Unmodified-Since date is ignored"
SYMLINK_IN = ("a symlink that stays inside the root is served (openat2 RESOLVE_BENEATH); nginx's "
              "disable_symlinks on refuses every symlink")
JS_TYPE = "RFC 9239: JavaScript is text/javascript (nginx 1.22's mime.types says application/javascript)"

CORPUS = [
    # --- plain GET/HEAD
    dict(name="get-text", target="/s/hello.txt"),
    dict(name="head-text", method="HEAD", target="/s/hello.txt"),
    dict(name="get-binary", target="/s/data.bin"),
    dict(name="get-css", target="/s/style.css"),
    dict(name="get-js", target="/s/app.js",
         differs=dict(headers={"content-type": "text/javascript; charset=utf-8"}, reason=JS_TYPE)),
    dict(name="get-html", target="/s/page.html"),
    dict(name="get-json", target="/s/data.json"),
    dict(name="get-png", target="/s/image.png"),
    dict(name="get-empty", target="/s/empty.txt"),
    dict(name="get-noext", target="/s/noext"),
    dict(name="get-space-encoded", target="/s/sp%20ace.txt"),
    dict(name="get-dots-name", target="/s/..dots.txt"),
    dict(name="get-query-ignored", target="/s/hello.txt?v=123&x"),
    dict(name="get-http10", target="/s/hello.txt", version="HTTP/1.0"),
    dict(name="missing", target="/s/missing.txt"),
    dict(name="missing-deeper", target="/s/nope/deeper.css"),
    dict(name="file-with-slash", target="/s/hello.txt/"),
    dict(name="post-405", method="POST", target="/s/hello.txt", headers=["Content-Length: 0"],
         differs=dict(reason="berth answers 405 with Allow: GET, HEAD for any other method on a static "
                             "route; nginx's static module answers 405 without Allow",
                      headers={"allow": "GET, HEAD"})),
    dict(name="delete-405", method="DELETE", target="/s/hello.txt",
         differs=dict(reason="as post-405", headers={"allow": "GET, HEAD"})),
    # --- directories
    dict(name="dir-index", target="/s/dir/"),
    dict(name="dir-redirect", target="/s/dir"),
    dict(name="dir-redirect-query", target="/s/dir?a=1&b=2"),
    dict(name="dir-no-index", target="/s/noindex/"),
    dict(name="dir-no-index-redirect", target="/s/noindex"),
    dict(name="root-index-403", target="/s/"),
    dict(name="dir-deeper-file", target="/s/dir/deeper/file.txt"),
    # --- conditional requests
    dict(name="inm-match", target="/s/hello.txt", headers=[f"If-None-Match: {ETAG_HELLO}"]),
    dict(name="inm-weak-match", target="/s/hello.txt", headers=[f"If-None-Match: W/{ETAG_HELLO}"]),
    dict(name="inm-list", target="/s/hello.txt", headers=[f'If-None-Match: "x", {ETAG_HELLO}']),
    dict(name="inm-star", target="/s/hello.txt", headers=["If-None-Match: *"]),
    dict(name="inm-other", target="/s/hello.txt", headers=['If-None-Match: "other"']),
    dict(name="head-inm", method="HEAD", target="/s/hello.txt", headers=[f"If-None-Match: {ETAG_HELLO}"]),
    dict(name="ims-exact", target="/s/hello.txt", headers=[f"If-Modified-Since: {LM}"]),
    dict(name="ims-earlier", target="/s/hello.txt", headers=[f"If-Modified-Since: {EARLIER}"]),
    dict(name="ims-later", target="/s/hello.txt", headers=[f"If-Modified-Since: {LATER}"],
         differs=dict(status=304, reason=RFC_IMS)),
    dict(name="ims-invalid", target="/s/hello.txt", headers=["If-Modified-Since: yesterday"]),
    dict(name="inm-other-ims-exact", target="/s/hello.txt",
         headers=['If-None-Match: "other"', f"If-Modified-Since: {LM}"]),
    dict(name="inm-match-ims-earlier", target="/s/hello.txt",
         headers=[f"If-None-Match: {ETAG_HELLO}", f"If-Modified-Since: {EARLIER}"],
         differs=dict(status=304, reason=RFC_INM)),
    dict(name="if-match-ok", target="/s/hello.txt", headers=[f"If-Match: {ETAG_HELLO}"]),
    dict(name="if-match-star", target="/s/hello.txt", headers=["If-Match: *"]),
    dict(name="if-match-fail", target="/s/hello.txt", headers=['If-Match: "other"']),
    dict(name="if-match-weak-fails", target="/s/hello.txt", headers=[f"If-Match: W/{ETAG_HELLO}"]),
    dict(name="ius-ok", target="/s/hello.txt", headers=[f"If-Unmodified-Since: {LM}"]),
    dict(name="ius-fail", target="/s/hello.txt", headers=[f"If-Unmodified-Since: {EARLIER}"]),
    dict(name="ius-invalid", target="/s/hello.txt", headers=["If-Unmodified-Since: nonsense"],
         differs=dict(status=200, reason=RFC_IUS)),
    # --- ranges
    dict(name="range-first", target="/s/data.bin", headers=["Range: bytes=0-99"]),
    dict(name="range-middle", target="/s/data.bin", headers=["Range: bytes=100-199"]),
    dict(name="range-open", target="/s/data.bin", headers=["Range: bytes=900-"]),
    dict(name="range-suffix", target="/s/data.bin", headers=["Range: bytes=-100"]),
    dict(name="range-suffix-larger", target="/s/data.bin", headers=["Range: bytes=-5000"]),
    dict(name="range-end-beyond", target="/s/data.bin", headers=["Range: bytes=990-5000"]),
    dict(name="range-one-byte", target="/s/data.bin", headers=["Range: bytes=0-0"]),
    dict(name="range-last-byte", target="/s/data.bin", headers=["Range: bytes=999-999"]),
    dict(name="range-spaces", target="/s/data.bin", headers=["Range: bytes= 0 - 9 "]),
    dict(name="range-upper-case", target="/s/data.bin", headers=["Range: BYTES=0-9"]),
    dict(name="range-multi", target="/s/data.bin", headers=["Range: bytes=0-9,20-29"]),
    dict(name="range-multi-three", target="/s/hello.txt", headers=["Range: bytes=0-0, 2-3, -1"]),
    dict(name="range-multi-overlap", target="/s/data.bin", headers=["Range: bytes=0-599,100-999"]),
    dict(name="range-unsatisfiable", target="/s/data.bin", headers=["Range: bytes=1000-"]),
    dict(name="range-unsatisfiable-2", target="/s/data.bin", headers=["Range: bytes=5000-6000"]),
    dict(name="range-reversed", target="/s/data.bin", headers=["Range: bytes=50-10"]),
    dict(name="range-malformed", target="/s/data.bin", headers=["Range: bytes=abc"]),
    dict(name="range-malformed-2", target="/s/data.bin", headers=["Range: bytes=1-2-3"]),
    dict(name="range-not-bytes", target="/s/data.bin", headers=["Range: items=0-1"]),
    dict(name="range-empty-spec", target="/s/data.bin", headers=["Range: bytes="]),
    dict(name="range-suffix-zero", target="/s/data.bin", headers=["Range: bytes=-0"]),
    dict(name="range-empty-file", target="/s/empty.txt", headers=["Range: bytes=0-"]),
    dict(name="range-empty-file-2", target="/s/empty.txt", headers=["Range: bytes=1-2"]),
    dict(name="range-huge-number", target="/s/data.bin", headers=["Range: bytes=0-99999999999999999999999"]),
    dict(name="head-range", method="HEAD", target="/s/data.bin", headers=["Range: bytes=0-9"]),
    dict(name="if-range-etag", target="/s/data.bin", headers=["Range: bytes=0-9", f"If-Range: {ETAG_DATA}"]),
    dict(name="if-range-etag-other", target="/s/data.bin", headers=["Range: bytes=0-9", 'If-Range: "other"']),
    dict(name="if-range-weak", target="/s/data.bin", headers=["Range: bytes=0-9", f"If-Range: W/{ETAG_DATA}"]),
    dict(name="if-range-date", target="/s/data.bin", headers=["Range: bytes=0-9", f"If-Range: {LM}"]),
    dict(name="if-range-date-other", target="/s/data.bin", headers=["Range: bytes=0-9", f"If-Range: {EARLIER}"]),
    dict(name="range-with-inm", target="/s/data.bin", headers=["Range: bytes=0-9", f"If-None-Match: {ETAG_DATA}"]),
    # --- precompressed siblings (nginx: gzip_static on, gzip_vary on)
    dict(name="gz-accepted", target="/s/comp.css", headers=["Accept-Encoding: gzip, deflate"]),
    dict(name="gz-not-accepted", target="/s/comp.css"),
    dict(name="gz-identity-only", target="/s/comp.css", headers=["Accept-Encoding: identity"]),
    dict(name="gz-q0", target="/s/comp.css", headers=["Accept-Encoding: gzip;q=0, identity"]),
    dict(name="gz-q-half", target="/s/comp.css", headers=["Accept-Encoding: gzip;q=0.5"]),
    dict(name="gz-star", target="/s/comp.css", headers=["Accept-Encoding: *"],
         differs=dict(same_as="gz-accepted",
                      reason="RFC 9110 §12.5.3: * accepts any coding; nginx's gzip_static only looks for \"gzip\"")),
    dict(name="gz-range", target="/s/comp.css", headers=["Accept-Encoding: gzip", "Range: bytes=0-9"]),
    dict(name="gz-direct", target="/s/comp.css.gz",
         differs=dict(headers={"content-type": "application/gzip"},
                      reason="RFC 6713: a .gz file is application/gzip; nginx 1.22's mime.types has no entry")),
    dict(name="gz-head", method="HEAD", target="/s/comp.css", headers=["Accept-Encoding: gzip"]),
    # --- paths that try to leave the root
    dict(name="trav-dotdot", target="/s/../outside/secret.txt"),
    dict(name="trav-dotdot-deep", target="/s/dir/../../outside/secret.txt"),
    dict(name="trav-encoded", target="/s/%2e%2e/outside/secret.txt"),
    dict(name="trav-encoded-upper", target="/s/%2E%2E/outside/secret.txt"),
    dict(name="trav-encoded-slash", target="/s/..%2foutside/secret.txt"),
    dict(name="trav-all-encoded", target="/s/%2e%2e%2f%2e%2e%2fetc/passwd"),
    dict(name="trav-above-root", target="/../../etc/passwd"),
    dict(name="trav-double-encoded", target="/s/%252e%252e/outside/secret.txt"),
    dict(name="trav-backslash", target="/s/..\\outside\\secret.txt"),
    dict(name="trav-backslash-encoded", target="/s/..%5coutside%5csecret.txt"),
    dict(name="trav-nul", target="/s/hello.txt%00.png"),
    dict(name="trav-overlong", target="/s/%c0%ae%c0%ae/outside/secret.txt"),
    dict(name="trav-dot-segments", target="/s/./dir/./index.html"),
    dict(name="trav-double-slash", target="/s//hello.txt"),
    dict(name="symlink-out", target="/s/link-out.txt"),
    dict(name="symlink-dir-out", target="/s/linkdir-out/secret.txt",
         differs=dict(status=403, reason="berth answers 403 for every path the kernel refuses to resolve "
                                         "beneath the root; nginx answers 404 when the symlink is a directory")),
    dict(name="symlink-in", target="/s/link-in.txt",
         differs=dict(status=200, reason=SYMLINK_IN)),
    dict(name="bad-percent", target="/s/%zz.txt"),
]
