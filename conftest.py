"""The test suite (root conftest, so it also applies to `pytest notebooks/NN.ipynb`) runs every notebook in the `smoke` profile, offline.

These variables are set before nbval starts any kernel, so the kernels inherit them. Each
notebook's kernel reports its profile and data sources into a temporary folder (NB_REPORT);
the end of the run prints them, so a CI log shows what every notebook ran on.
Every notebook cell nbval runs is also held to what a reader of the executed notebook must
never see (helpers/plumbing/nbchecks.py: frozen progress frames, widget reprs, stray results,
double prints) and every figure it shows to the projector rule (helpers/plumbing/figcheck.py:
text >= 11 px in a 1000-px column, no overlapping text): a cell that breaks them fails.
NB_OFFLINE=1 keeps the suite from downloading anything even on a connected machine; data
already cached in data/ (e.g. the Fashion-MNIST sample CI copies there) is still used.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPORTS = Path(tempfile.mkdtemp(prefix="nb-reports-"))
FIGCHECK = Path(tempfile.mkdtemp(prefix="nb-figcheck-"))
os.environ["NB_REPORT"] = str(REPORTS)
os.environ["NB_FIGCHECK"] = str(FIGCHECK)     # every figure a notebook shows is measured
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


_NOTEBOOK_SECONDS: dict = {}    # notebook file -> seconds its cells ran under nbval


def pytest_runtest_logreport(report):
    if report.when == "call" and report.nodeid.split("::")[0].endswith(".ipynb"):
        name = Path(report.nodeid.split("::")[0]).stem
        _NOTEBOOK_SECONDS[name] = _NOTEBOOK_SECONDS.get(name, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """One line per notebook run: its title, profile and the data it used (its first output);
    then the seconds each notebook's cells ran (smoke runtimes on this machine)."""
    reports = [json.loads(f.read_text()) for f in sorted(REPORTS.glob("*.json"))]
    reports = [r for r in reports if r.get("title")]           # notebooks; not unit tests' setup()
    if reports:
        terminalreporter.section("data each notebook ran on")
        for r in reports:
            sources = "; ".join(f"{k}: {v}" for k, v in r.get("sources", {}).items()) or "none"
            terminalreporter.write_line(f"{r['title']} [{r.get('profile')}]: {sources}")
    if _NOTEBOOK_SECONDS:
        terminalreporter.section("seconds each notebook's cells ran")
        load = f"; load average {os.getloadavg()[1]:.1f}" if hasattr(os, "getloadavg") else ""
        for name, seconds in sorted(_NOTEBOOK_SECONDS.items()):
            terminalreporter.write_line(f"{name}: {seconds:.0f} s")
        terminalreporter.write_line(f"({os.cpu_count()} CPUs{load})")


_SEEN_LINES: dict = {}          # notebook -> {line: where first shown}, for double prints
_FIG_LINES_READ: dict = {}      # figure-record file -> lines already judged


def _new_figure_records() -> list[dict]:
    """Figure records written by notebook kernels since the last call (not by this process:
    unit tests that call helpers.setup() draw figures of their own)."""
    records = []
    for f in sorted(FIGCHECK.glob("figures-*.jsonl")):
        if f.name == f"figures-{os.getpid()}.jsonl":
            continue
        lines = f.read_text().splitlines()
        done = _FIG_LINES_READ.get(f.name, 0)
        records += [json.loads(line) for line in lines[done:] if line.strip()]
        _FIG_LINES_READ[f.name] = len(lines)
    return records


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail a notebook cell that leaves a reader something they must not see (module doc)."""
    outcome = yield
    if call.when != "call" or type(item).__name__ != "IPyNbCell":
        return
    from helpers.plumbing import figcheck, nbchecks

    records = _new_figure_records()
    report = outcome.get_result()
    if not report.passed:
        return
    seen = _SEEN_LINES.setdefault(str(item.fspath), {})
    where = f"code cell {getattr(item, 'cell_num', '?')}"
    found = nbchecks.cell_problems(getattr(item, "test_outputs", None) or [], seen, where)
    complaints = [f"{kind[:-1]}: {d}" for kind, items in found.items() for d in items]
    complaints += [f"{where}: {p}" for r in records for p in figcheck.problems(r)]
    if complaints:
        report.outcome = "failed"
        report.longrepr = ("what a reader of the executed notebook would see:\n  "
                           + "\n  ".join(complaints))


def pytest_unconfigure(config):
    shutil.rmtree(REPORTS, ignore_errors=True)
    shutil.rmtree(FIGCHECK, ignore_errors=True)
