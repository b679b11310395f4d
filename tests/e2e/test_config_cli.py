"""berth's command line and config checking: `berth check`, config errors from `berth serve`,
--version and --help. Only the real binary is run; nothing here starts a long-lived server.

conf/berth.toml and conf/dev.toml route /static/ to ../samples/mysite/staticfiles, which
exists only after `manage.py collectstatic` (and is git-ignored). To check the shipped files
without writing into samples/, the tests copy them byte for byte into a temporary tree that
mirrors the repository layout around conf/ (.venv and every entry of samples/mysite are
symlinks to the real ones) and create staticfiles/ there.
"""
import re
import shutil
import subprocess

import pytest

from conftest import BERTH_BIN, ROOT, VENV_PYTHON, mysite_config

MYSITE = ROOT / "samples" / "mysite"


def berth(*args, cwd=None, timeout=60):
    return subprocess.run([str(BERTH_BIN), *[str(a) for a in args]], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _err_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


# ---------------------------------------------------------------- the shipped configs

def _mirror_repo(tmp_path, collected):
    """tmp/conf/{berth,dev}.toml copied; tmp/.venv and tmp/samples/mysite/* symlinked."""
    (tmp_path / "conf").mkdir()
    for name in ("berth.toml", "dev.toml"):
        shutil.copyfile(ROOT / "conf" / name, tmp_path / "conf" / name)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    site = tmp_path / "samples" / "mysite"
    site.mkdir(parents=True)
    for entry in MYSITE.iterdir():
        if entry.name not in ("staticfiles", "media", "db.sqlite3"):
            (site / entry.name).symlink_to(entry)
    if collected:
        (site / "staticfiles").mkdir()
    return tmp_path / "conf"


@pytest.mark.parametrize("name, mode", [("berth.toml", "serve"), ("dev.toml", "dev")])
def test_shipped_config_is_valid(tmp_path, name, mode):
    conf = _mirror_repo(tmp_path, collected=True)
    assert (conf / name).read_bytes() == (ROOT / "conf" / name).read_bytes()
    r = berth("check", "-c", conf / name, "--mode", mode, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert re.search(rf"{re.escape(str(conf / name))}: ok \(1 listeners, 1 apps, 3 routes\)", r.stdout), r.stdout


@pytest.mark.parametrize("name, mode", [("berth.toml", "serve"), ("dev.toml", "dev")])
def test_shipped_config_before_collectstatic_names_the_missing_directory(tmp_path, name, mode):
    conf = _mirror_repo(tmp_path, collected=False)
    r = berth("check", "-c", conf / name, "--mode", mode, cwd=tmp_path)
    assert r.returncode == 2
    lines = _err_lines(r)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{conf / name}: route[0].static: ")
    assert "samples/mysite/staticfiles" in lines[0] and "collectstatic" in lines[0], lines[0]


@pytest.mark.parametrize("name, mode", [("berth.toml", "serve"), ("dev.toml", "dev")])
def test_shipped_config_in_place(name, mode):
    """The files where they are: valid, except for staticfiles/ when collectstatic never ran."""
    r = berth("check", "-c", f"conf/{name}", "--mode", mode)
    if (MYSITE / "staticfiles").is_dir():
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 2
        assert _err_lines(r) == [
            f"conf/{name}: route[0].static: directory {MYSITE}/staticfiles does not exist "
            "(run `manage.py collectstatic`?)"], r.stderr


# ---------------------------------------------------------------- broken configs

@pytest.fixture
def write_config(tmp_path):
    """write_config(edit) → path of a valid config after applying edit(text) → text."""
    static = tmp_path / "static"
    static.mkdir()
    base = mysite_config(MYSITE, static)
    counter = [0]

    def write(edit=None):
        counter[0] += 1
        path = tmp_path / f"config{counter[0]}.toml"
        text = base if edit is None else edit(base)
        assert edit is None or text != base, "the edit changed nothing"
        path.write_text(text)
        return path

    return write


def _replace(old, new):
    def edit(text):
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


def test_baseline_config_is_valid(write_config):
    """The control for the tests below: the unedited config passes."""
    path = write_config()
    r = berth("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert f"{path}: ok (1 listeners, 1 apps, 2 routes)" in r.stdout


@pytest.mark.parametrize("old, new, key, suggestion", [
    ("workers = 2", "workerz = 2", "app.mysite.workerz", "workers"),
    ('access_log = "-"', 'acess_log = "-"', "server.acess_log", "access_log"),
    ('python = "', 'pyhton = "', "pyhton", "python"),
])
def test_unknown_key_is_named_with_a_suggestion(write_config, old, new, key, suggestion):
    path = write_config(_replace(old, new))
    r = berth("check", "-c", path)
    assert r.returncode == 2
    assert f"{path}: {key}: unknown key" in r.stderr, r.stderr
    assert f'did you mean "{suggestion}"' in r.stderr, r.stderr


def test_workers_must_be_an_integer(write_config):
    path = write_config(_replace("workers = 2", 'workers = "two"'))
    r = berth("check", "-c", path)
    assert r.returncode == 2
    lines = _err_lines(r)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{path}: app.mysite.workers: "), lines[0]
    assert '"two"' in lines[0]
    assert "integer" in lines[0]


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope" / "berth.toml"
    r = berth("check", "-c", missing)
    assert r.returncode == 2
    assert str(missing) in r.stderr
    assert "no such file" in r.stderr.lower()


@pytest.mark.parametrize("line, bad", [
    (7, 'bind = "127.0.0.1:0'),   # unterminated string
    (9, "[app.mysite"),           # unterminated table header
    (12, "workers = = 2"),        # no value
])
def test_toml_syntax_error_gives_the_line(write_config, line, bad):
    def edit(text):
        lines = text.split("\n")
        lines[line - 1] = bad
        return "\n".join(lines)
    path = write_config(edit)
    r = berth("check", "-c", path)
    assert r.returncode == 2
    assert re.search(rf"(^|\s){re.escape(str(path))}:{line}(:\d+)?:", r.stderr) or f"line {line}" in r.stderr, \
        f"no line {line} in: {r.stderr}"


def test_route_to_unknown_app(write_config):
    path = write_config(_replace('app = "mysite"', 'app = "mysit"'))
    r = berth("check", "-c", path)
    assert r.returncode == 2
    lines = _err_lines(r)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{path}: route[1].app: "), lines[0]
    assert '"mysit"' in lines[0]


def test_all_problems_are_reported_at_once(write_config):
    path = write_config(lambda t: _replace('app = "mysite"', 'app = "mysit"')(
        _replace("workers = 2", 'workers = "two"')(t)))
    r = berth("check", "-c", path)
    assert r.returncode == 2
    assert f"{path}: app.mysite.workers: " in r.stderr
    assert f"{path}: route[1].app: " in r.stderr


@pytest.mark.parametrize("old, new", [
    ("workers = 2", 'workers = "two"'),
    ("workers = 2", "workerz = 2"),
    ('app = "mysite"', 'app = "mysit"'),
])
def test_serve_rejects_a_bad_config_like_check(write_config, old, new):
    path = write_config(_replace(old, new))
    checked = berth("check", "-c", path)
    served = berth("serve", "-c", path, timeout=30)
    assert checked.returncode == 2
    assert served.returncode == 2, served.stdout + served.stderr
    assert _err_lines(served) == _err_lines(checked)
    assert "listening" not in served.stdout


def test_serve_with_a_missing_config_file(tmp_path):
    r = berth("serve", "-c", tmp_path / "missing.toml", timeout=30)
    assert r.returncode == 2
    assert "missing.toml" in r.stderr


def test_check_with_an_unknown_mode(write_config):
    r = berth("check", "-c", write_config(), "--mode", "prod")
    assert r.returncode != 0
    assert "--mode" in r.stderr and "prod" in r.stderr


# ---------------------------------------------------------------- the command line

def test_version():
    r = berth("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\n?", r.stdout), r.stdout


def test_help_lists_the_subcommands():
    r = berth("--help")
    assert r.returncode == 0
    for sub in ("dev", "serve", "check"):
        assert re.search(rf"^\s+{sub}\s", r.stdout, re.M), f"{sub} missing from:\n{r.stdout}"


def test_serve_help_lists_the_flags():
    r = berth("serve", "--help")
    assert r.returncode == 0
    for flag in ("--workers", "--bind", "--chdir", "--static", "--python", "--config", "--django"):
        assert flag in r.stdout, f"{flag} missing from:\n{r.stdout}"


def test_serve_with_nothing_to_serve(tmp_path):
    r = berth("serve", cwd=tmp_path, timeout=30)
    assert r.returncode != 0
    assert "nothing to serve" in r.stderr, r.stderr
    for hint in ("MODULE:CALLABLE", "--django", "-c"):
        assert hint in r.stderr, r.stderr
    assert "listening" not in r.stdout
