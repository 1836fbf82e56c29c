"""What a reader of an executed notebook sees: helpers/plumbing/nbchecks.py (progress frames,
widget reprs, stray results, double prints), helpers/plumbing/figcheck.py (text size in a
1000-px column, overlapping text) and their use by tools/run_notebooks.py."""
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from helpers.plumbing import figcheck, nbchecks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import run_notebooks  # noqa: E402


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(data):
    return {"output_type": "execute_result", "data": data, "metadata": {}, "execution_count": 1}


def display(data):
    return {"output_type": "display_data", "data": data, "metadata": {}}


def counts(found):
    return {k: len(v) for k, v in found.items()}


def test_each_kind_is_found_and_a_clean_cell_passes():
    seen = {}
    clean = [stream("loss 0.31 after 3 epochs on 20,000 images\n"),
             display({"text/markdown": "The filters **sharpen**.", "text/plain": "The filters sharpen."}),
             display({"image/png": "iVBOR", "text/plain": "<Figure size 640x480 with 1 Axes>"})]
    assert counts(nbchecks.cell_problems(clean, seen, "c1")) == dict.fromkeys(nbchecks.KINDS, 0)
    bad = [stream(" 40%|####      | 2/5 [00:01<00:02,  1.50it/s]\n"),
           result({"text/plain": "True"}),
           stream("interactive(children=(IntSlider(value=3, max=10), Output()))\n"),
           stream("loss 0.31 after 3 epochs on 20,000 images\n")]
    found = nbchecks.cell_problems(bad, seen, "c2")
    assert counts(found) == {"progress frames": 1, "widget reprs": 1, "stray results": 1,
                             "double prints": 1}, found
    assert "also c1" in found["double prints"][0]


def test_short_or_distinct_lines_are_not_double_prints():
    seen = {}
    outs = [stream("PASSED   a\nPASSED   a\n"), stream("epoch 1 of 3: loss 0.512, accuracy 0.41\n"
                                                    "epoch 2 of 3: loss 0.433, accuracy 0.47\n")]
    assert counts(nbchecks.cell_problems(outs, seen))["double prints"] == 0


def test_widget_outputs_keep_one_readable_line_and_tqdm_widgets_are_frames():
    widget = display({nbchecks.WIDGET_MIME: {"model_id": "x"},
                      "text/plain": "interactive(children=(IntSlider(value=3), Output()))"})
    bar = display({nbchecks.WIDGET_MIME: {"model_id": "y"},
                   "text/plain": "HBox(children=(HTML(value=''), FloatProgress(value=0.0, max=5.0)))"})
    found = nbchecks.cell_problems([widget, bar])
    assert counts(found)["progress frames"] == 1 and counts(found)["widget reprs"] == 0
    assert nbchecks.strip_widget_text([widget, bar]) == 2
    assert widget["data"]["text/plain"] == nbchecks.WIDGET_NOTE
    assert nbchecks.strip_widget_text([widget]) == 0            # already stripped


def _measure(fig, dpi=100):
    """Print ``fig`` as the inline backend does and return the record figcheck wrote."""
    buf = io.BytesIO()
    fig.canvas.print_figure(buf, format="png", bbox_inches="tight", dpi=dpi)
    plt.close(fig)
    return figcheck.read(figcheck._state["folder"])[-1]


@pytest.fixture
def installed(tmp_path):
    figcheck.install(tmp_path)
    yield tmp_path


def test_small_text_in_a_wide_figure_is_too_small(installed):
    fig, ax = plt.subplots(figsize=(16, 4))
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title", fontsize=14)
    ax.tick_params(labelsize=8)
    rec = _measure(fig)
    # 8 pt at 100 dpi is 11.1 px, shrunk by 1000 / (about 1300, the tight crop) to under 9 px
    assert rec["width_px"] > 1200 and rec["min_px"] < 9
    assert any("needs >= 11" in p for p in figcheck.problems(rec))


def test_the_same_text_in_a_narrow_figure_is_shown_full_size(installed):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("time (s)", fontsize=12)
    ax.tick_params(labelsize=9)
    rec = _measure(fig)
    assert rec["scale"] == 1.0 and rec["min_px"] == pytest.approx(9 * 100 / 72, abs=0.2)
    assert figcheck.problems(rec) == []


def test_overlapping_texts_are_named(installed):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.text(0.5, 0.5, "first label here", fontsize=14)
    ax.text(0.52, 0.51, "second label here", fontsize=14)
    ax.tick_params(labelsize=11)
    rec = _measure(fig)
    assert ["first label here", "second label here"] in rec["overlaps"]
    assert any("overlaps" in p for p in figcheck.problems(rec))


def test_the_runner_leaves_no_frames_and_reports_small_figures(tmp_path):
    """A headless run: progress bars off in the kernel (NB_HEADLESS=1), widget text replaced,
    a stray result and a small-text figure reported in the result and summary.json."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "import helpers as H\nrt = H.setup(quiet=True)",
        "for _ in H.progress(range(3)):\n    pass",
        "import ipywidgets as widgets\nwidgets.interact(lambda n=3: print('n =', n), n=(1, 10));",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(16, 3))\n"
        "ax.plot([0, 1]); ax.tick_params(labelsize=7); plt.show()",
        "1 + 1",
    )]
    path = tmp_path / "98_static.ipynb"
    nbformat.write(nb, path)
    r = run_notebooks.run_one(path, tmp_path / "out", cell_timeout=120)
    assert r["error"] == "", r
    static = r["static_view"]
    assert len(static["progress frames"]) == 0 and len(static["widget reprs"]) == 0
    assert len(static["stray results"]) == 1 and "cell 4" in static["stray results"][0]
    assert static["figures measured"] == 1 and "cell 3" in static["figures"][0]
    out = nbformat.read(tmp_path / "out" / path.name, as_version=4)
    texts = [o.get("data", {}).get("text/plain", "") for o in out.cells[2].outputs]
    assert nbchecks.WIDGET_NOTE in texts and not any("IntSlider" in t for t in texts)
    run_notebooks.write_summary(tmp_path / "out", r)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary[r["profile"]]["98_static"]["error"] == ""


def test_consecutive_prints_become_one_block():
    outs = [stream("W=7: 7 x 7\n"), stream("W=32: 28 x 28\n"), display({"text/plain": "<Figure>"}),
            stream("after\n"), {"output_type": "stream", "name": "stderr", "text": "warn\n"}]
    merged = nbchecks.merge_streams(outs)
    assert [o.get("name") for o in merged] == ["stdout", None, "stdout", "stderr"]
    assert merged[0]["text"] == "W=7: 7 x 7\nW=32: 28 x 28\n"
