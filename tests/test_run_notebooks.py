"""tools/run_notebooks.py: a stalled cell is stopped and named; widgets never block a headless run."""
import asyncio
import sys
import time
from pathlib import Path
from queue import Empty

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import run_notebooks  # noqa: E402


def notebook(tmp_path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c[2:]) if c.startswith("md") else
                nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "99_demo.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_stalled_cell_is_stopped_and_named(tmp_path):
    path = notebook(tmp_path, "x = 1", "md## 3. The slow part", "import time\ntime.sleep(60)",
                    "print('never reached')")
    r = run_notebooks.run_one(path, tmp_path / "out", cell_timeout=4)
    assert r["seconds"] < 45, r
    assert "cell 2 (3. The slow part: import time)" in r["error"] and "longer than 4 s" in r["error"]
    assert (tmp_path / "out" / "99_demo.ipynb").exists()      # what ran is kept for reading


def test_widget_cells_do_not_block_a_headless_run(tmp_path):
    path = notebook(tmp_path, "import ipywidgets as widgets",
                    "widgets.interact(lambda n=3: print('n =', n), n=(1, 10))",
                    "widgets.interact.options(manual=True)(lambda k=1: k, k=(0, 5));",
                    "print('after the widgets')")
    r = run_notebooks.run_one(path, tmp_path / "out", cell_timeout=60)
    assert r["error"] == "", r
    out = nbformat.read(tmp_path / "out" / "99_demo.ipynb", as_version=4)
    assert "after the widgets" in out.cells[-1].outputs[0]["text"]


class _Channel:
    """A kernel channel whose message is there but whose first waits report nothing."""

    def __init__(self, misses: int):
        self.misses, self.calls = misses, []

    async def get_msg(self, timeout=None):
        self.calls.append(timeout)
        if len(self.calls) <= self.misses:
            await asyncio.sleep(timeout or 0)
            raise Empty
        return {"msg": "reply"}


def test_repoll_finds_a_reply_whose_wake_up_was_lost():
    ch = _Channel(misses=2)
    t0 = time.monotonic()
    msg = asyncio.run(run_notebooks.repoll(ch.get_msg, step=0.05)(timeout=900))
    assert msg == {"msg": "reply"} and len(ch.calls) == 3
    assert all(t <= 0.05 for t in ch.calls) and time.monotonic() - t0 < 5   # not 900 s


def test_repoll_still_times_out():
    ch = _Channel(misses=10 ** 6)
    t0 = time.monotonic()
    try:
        asyncio.run(run_notebooks.repoll(ch.get_msg, step=0.05)(timeout=0.3))
    except Empty:
        pass
    else:
        raise AssertionError("a wait with nothing to receive must end in Empty")
    assert 0.3 <= time.monotonic() - t0 < 2
