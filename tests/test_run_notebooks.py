"""tools/run_notebooks.py: a stalled cell is stopped and named; widgets never block a headless run."""
import sys
from pathlib import Path

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
