"""berth's static files against nginx 1.22: the corpus in tests/conformance/corpus.py is sent
to berth as raw bytes, and each answer is compared with what nginx answered when
tests/conformance/record.py recorded tests/conformance/expectations.json.

Status, the header fields that carry meaning (Content-Type, -Length, -Range, -Encoding,
Vary, Location, ETag, Last-Modified, Accept-Ranges) and the body are compared exactly;
Date by presence; error pages only by status (each server has its own page). Where berth
deliberately differs, the corpus entry says how and why.
"""
import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "conformance"))
from corpus import CORPUS  # noqa: E402
from fixture import PREFIX, make_tree  # noqa: E402
from wire import exchange, summarize  # noqa: E402

EXPECTED = json.loads((ROOT / "tests" / "conformance" / "expectations.json").read_text())["responses"]


@pytest.fixture(scope="module")
def berth_static(tmp_path_factory):
    # Module-scoped: one berth for the whole corpus (start_berth is per test).
    from conftest import Berth
    base = tmp_path_factory.mktemp("conformance")
    root = make_tree(base / "tree")
    config = base / "berth.toml"
    config.write_text(f"""\
[server]
access_log = "off"

[[listen]]
bind = "127.0.0.1:0"

[[route]]
path = "{PREFIX}"
static = "{root}"
""")
    b = Berth(["serve", "-c", config])
    yield b
    assert b.stop() == 0


def expected_for(entry):
    expected = json.loads(json.dumps(EXPECTED[entry["name"]]))
    differs = entry.get("differs")
    if differs:
        assert differs.get("reason"), f"{entry['name']}: a deliberate difference needs a reason"
        if "same_as" in differs:
            expected = json.loads(json.dumps(EXPECTED[differs["same_as"]]))
        if "status" in differs:
            expected = {"status": differs["status"]}
        for name, value in differs.get("headers", {}).items():
            expected.setdefault("headers", {})[name] = value
    return expected


def test_corpus_was_recorded():
    assert {e["name"] for e in CORPUS} == set(EXPECTED), "re-run tests/conformance/record.py"


@pytest.mark.parametrize("entry", CORPUS, ids=[e["name"] for e in CORPUS])
def test_static_conformance(berth_static, entry):
    status, headers, body = exchange(berth_static.host, berth_static.port, entry)
    got = summarize(status, headers, body)
    expected = expected_for(entry)
    assert b"TOP-SECRET" not in body
    assert got["status"] == expected["status"], f"{entry['name']}: {got} != nginx {expected}"
    if "differs" in entry and "status" in entry["differs"]:
        return  # a different status: nginx's fields do not apply
    assert got["headers"] == expected["headers"], entry["name"]
    assert got["present"] == expected["present"], entry["name"]
    for key in ("body_sha256", "body_length", "parts"):
        assert got.get(key) == expected.get(key), f"{entry['name']}: {key}"
