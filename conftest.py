"""The test suite (root conftest, so it also applies to `pytest notebooks/NN.ipynb`) runs every notebook in the `smoke` profile, offline.

These variables are set before nbval starts any kernel, so the kernels inherit them. Each
notebook's kernel reports its profile and data sources into a temporary folder (NB_REPORT);
the end of the run prints them, so a CI log shows what every notebook ran on.
NB_OFFLINE=1 keeps the suite from downloading anything even on a connected machine; data
already cached in data/ (e.g. the Fashion-MNIST sample CI copies there) is still used.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

REPORTS = Path(tempfile.mkdtemp(prefix="nb-reports-"))
os.environ["NB_REPORT"] = str(REPORTS)
os.environ["NB_PROFILE"] = "smoke"
os.environ.setdefault("NB_HEADLESS", "1")      # no progress bars: nobody watches them here
os.environ.setdefault("NB_OFFLINE", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def pytest_ignore_collect(collection_path, config):
    """tests/test_browser.py (JupyterLab in headless Chromium, minutes) runs only when asked for:
    `-m browser` (`make test-browser`) or the file named on the command line."""
    if collection_path.name != "test_browser.py":
        return None
    if "browser" in (config.getoption("markexpr") or "").replace("not browser", ""):
        return None
    named = {Path(a.split("::")[0]).resolve() for a in config.args}
    return None if Path(collection_path).resolve() in named else True


def pytest_terminal_summary(terminalreporter):
    """One line per notebook run: its title, profile and the data it used (its first output)."""
    reports = [json.loads(f.read_text()) for f in sorted(REPORTS.glob("*.json"))]
    reports = [r for r in reports if r.get("title")]           # notebooks; not unit tests' setup()
    if not reports:
        return
    terminalreporter.section("data each notebook ran on")
    for r in reports:
        sources = "; ".join(f"{k}: {v}" for k, v in r.get("sources", {}).items()) or "none"
        terminalreporter.write_line(f"{r['title']} [{r.get('profile')}]: {sources}")


def pytest_unconfigure(config):
    shutil.rmtree(REPORTS, ignore_errors=True)
