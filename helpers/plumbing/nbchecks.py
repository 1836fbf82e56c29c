"""What a reader of an executed notebook must never see, counted: the checks behind
``tools/run_notebooks.py`` (its "static view" line) and the test suite (``conftest.py``).

* **progress frames**: a progress bar frozen in a saved output (tqdm text such as
  ``40%|####  | 2/5``, or a tqdm widget);
* **widget reprs**: the text form of a widget (``interactive(children=(IntSlider(...``) where a
  static view shows it, i.e. as plain text outside a widget output;
* **stray results**: a cell whose last expression echoes a value as plain text (``True``,
  ``Text(0.5, 1.0, ...)``, an array repr) instead of a figure or a rendered sentence;
* **double prints**: the same line of text (30 characters or more) shown twice in one notebook.

Outputs are nbformat dicts (``output_type``, ``text`` / ``data``). :func:`strip_widget_text`
replaces the plain-text fallback of widget outputs by one line saying what is there, for
static views (GitHub, nbviewer, HTML) that cannot draw the widget.
"""
from __future__ import annotations

import re

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "(an interactive control: run the notebook in JupyterLab or Colab to use it)"
PROGRESS_RE = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+/\d+ \[\d+:\d+<|\bit/s\]|\bs/it\]")
WIDGET_REPR_RE = re.compile(r"^\s*(interactive|HBox|VBox|Box|IntSlider|FloatSlider|FloatLogSlider|"
                            r"IntRangeSlider|Dropdown|ToggleButtons|RadioButtons|Checkbox|Button|"
                            r"Output|SelectionSlider|Tab|Accordion|Label|HTML|IntProgress|"
                            r"FloatProgress|Play)\(", re.M)
MIN_REPEAT_CHARS = 30
KINDS = ("progress frames", "widget reprs", "stray results", "double prints")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def shown_text(output) -> str:
    """The text a static view shows for one output (its best text form)."""
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text"))
    if kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        if "text/markdown" in data:
            return _text(data["text/markdown"])
        if any(m.startswith("image/") or m in ("text/html", WIDGET_MIME) for m in data):
            return ""                               # a picture, a table or a widget: no text shown
        return _text(data.get("text/plain"))
    return ""


def merge_streams(outputs) -> list:
    """``outputs`` with each run of consecutive stream outputs of one stream (stdout or stderr)
    joined into one: the kernel sends a long print in several messages, and an HTML export
    shows each as its own block (a table split by a gap) where JupyterLab shows one."""
    merged = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (last is not None and output.get("output_type") == "stream" == last.get("output_type")
                and output.get("name") == last.get("name")):
            last["text"] = _text(last.get("text")) + _text(output.get("text"))
        else:
            merged.append(output)
    return merged


def strip_widget_text(outputs) -> int:
    """Replace the plain-text repr of every widget output by :data:`WIDGET_NOTE`; the count."""
    n = 0
    for output in outputs:
        data = output.get("data", {})
        if WIDGET_MIME in data and _text(data.get("text/plain")) != WIDGET_NOTE:
            data["text/plain"] = WIDGET_NOTE
            n += 1
    return n


def cell_problems(outputs, seen: dict | None = None, where: str = "") -> dict[str, list[str]]:
    """Problems in one cell's outputs, by kind (see module doc).

    ``seen`` (line -> where it was first shown) carries double-print detection across the cells
    of one notebook; pass the same dict for every cell.
    """
    found = {k: [] for k in KINDS}
    seen = {} if seen is None else seen
    for output in outputs:
        data = output.get("data", {})
        text = shown_text(output)
        plain = _text(data.get("text/plain"))
        if WIDGET_MIME in data:
            if plain.lstrip().startswith("HBox(children=(HTML(value=") or "tqdm" in plain.lower():
                found["progress frames"].append(f"{where}: a progress-bar widget")
            elif plain and plain != WIDGET_NOTE and WIDGET_REPR_RE.search(plain):
                pass        # its text form is replaced by strip_widget_text in saved notebooks
            continue
        if PROGRESS_RE.search(text):
            line = next(s for s in text.splitlines() if PROGRESS_RE.search(s))
            found["progress frames"].append(f"{where}: {line.strip()[:80]}")
        if WIDGET_REPR_RE.search(text) and "(" in text:
            found["widget reprs"].append(f"{where}: {text.strip()[:80]}")
        if (output.get("output_type") == "execute_result"
                and set(data) <= {"text/plain"} and plain.strip()):
            found["stray results"].append(f"{where}: {plain.strip()[:80]}")
        for line in (s.strip() for s in text.splitlines()):
            if len(line) < MIN_REPEAT_CHARS or PROGRESS_RE.search(line):
                continue
            if line in seen:
                found["double prints"].append(f"{where}: '{line[:80]}' (also {seen[line]})")
            else:
                seen[line] = where or "earlier"
    return found


def notebook_problems(nb) -> dict[str, list[str]]:
    """Problems in every code cell of an executed notebook (nbformat node or dict)."""
    found = {k: [] for k in KINDS}
    seen: dict = {}
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        for kind, items in cell_problems(cell.get("outputs", []), seen, f"cell {index}").items():
            found[kind].extend(items)
    return found
