"""The bootstrap cell, run as on Colab (the ``google.colab`` module present): it clones or
updates the repository, puts ``helpers`` on the path, is safe to run twice, never installs
torch, numpy or matplotlib, and says in one line what to do when the address cannot be reached."""
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import sync_notebooks  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]


def make_remote(tmp_path) -> Path:
    """A local git repository named like ours, with a helpers package, standing in for GitHub."""
    remote = tmp_path / "remote" / sync_notebooks.repo_url().split("/")[-1]
    (remote / "helpers").mkdir(parents=True)
    (remote / "helpers" / "__init__.py").write_text("VERSION = 1\n")
    subprocess.run(GIT + ["init", "-q", str(remote)], check=True)
    subprocess.run(GIT + ["-C", str(remote), "add", "."], check=True)
    subprocess.run(GIT + ["-C", str(remote), "commit", "-qm", "first"], check=True)
    return remote


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """Colab's marker module, a /content folder, and a pip that only records what it was asked."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv("NB_COLAB_DIR", str(tmp_path / "content"))
    (tmp_path / "content").mkdir()
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = []
    real_run = subprocess.run

    def run(cmd, *args, **kwargs):
        calls.append(list(map(str, cmd)))
        if cmd[:3] == [sys.executable, "-m", "pip"]:
            return subprocess.CompletedProcess(cmd, 0)      # never touch this environment
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def run_cell(url):
    exec(sync_notebooks.bootstrap_source(url), {"__name__": "__main__"})


def test_clones_installs_helpers_only_and_is_safe_to_run_twice(tmp_path, colab, capsys):
    remote = make_remote(tmp_path)
    run_cell(str(remote))
    clone = tmp_path / "content" / remote.name
    assert (clone / "helpers" / "__init__.py").read_text() == "VERSION = 1\n"
    assert sys.path.count(str(clone)) == 1
    pips = [c for c in colab if "pip" in c]
    assert len(pips) == 1 and "--no-deps" in pips[0] and pips[0][-2:] == ["-e", str(clone)]
    run_cell(str(remote))                                 # again, in the same kernel
    assert sys.path.count(str(clone)) == 1 and len([c for c in colab if "pip" in c]) == 1
    cell_git = [c for c in colab if c[0] == "git" and c[1] != "-c"]     # not the test's own
    assert [c[1] for c in cell_git] == ["clone", "-C"] and cell_git[1][3] == "pull"
    for cmd in colab:
        assert not {"torch", "torchvision", "numpy", "matplotlib"} & set(cmd), cmd
    assert capsys.readouterr().out == ""                  # nothing to report when all went well


def test_a_second_run_updates_the_copy(tmp_path, colab):
    remote = make_remote(tmp_path)
    run_cell(str(remote))
    (remote / "helpers" / "__init__.py").write_text("VERSION = 2\n")
    subprocess.run(GIT + ["-C", str(remote), "commit", "-qam", "second"], check=True)
    run_cell(str(remote))
    assert (tmp_path / "content" / remote.name / "helpers" / "__init__.py").read_text() == "VERSION = 2\n"


def test_unreachable_address_gives_one_clear_line_not_a_traceback(tmp_path, colab, capsys):
    url = str(tmp_path / "no-such-host" / "cnn-lecture-notebooks")
    run_cell(url)                                         # must not raise
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"Could not download the notebooks' code from {url} (")
    assert "Check the runtime's internet connection and run this cell again." in out
    assert len(out.splitlines()) == 1 and "Traceback" not in out
    assert not [c for c in colab if "pip" in c]           # nothing to install


def test_an_existing_copy_is_used_when_the_update_fails(tmp_path, colab, capsys):
    remote = make_remote(tmp_path)
    run_cell(str(remote))
    shutil.rmtree(remote)                                 # the address is gone now
    sys.path.remove(str(tmp_path / "content" / remote.name))
    run_cell(str(remote))
    out = capsys.readouterr().out
    assert "Could not update" in out and "meanwhile the copy in" in out
    assert str(tmp_path / "content" / remote.name) in sys.path


def test_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    called = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: called.append(a))
    run_cell("https://example.org/x/cnn-lecture-notebooks")
    assert called == []
