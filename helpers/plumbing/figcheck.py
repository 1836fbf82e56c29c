"""Measure every figure a notebook shows: smallest text, overlapping text, text off the canvas.

Switched on by ``NB_FIGCHECK=<folder>`` (``tools/run_notebooks.py`` and the test suite set it;
:func:`helpers.setup` calls :func:`install`). Each figure drawn for display (the inline backend's
PNG) appends one JSON line to ``<folder>/figures-<pid>.jsonl``:

``{"cell", "title", "width_px", "scale", "min_px", "smallest", "overlaps", "outside"}``
(``cell``: :func:`cell_key` of the source of the cell that showed it)

* ``scale``: how much the PNG is shrunk when shown in a 1000-px notebook column
  (``min(1, 1000 / width_px)``; a narrower figure is shown at its own size).
* ``min_px``: the smallest font height, in screen pixels at that scale
  (points x dpi / 72 x scale), of every text actually drawn (titles, labels, tick labels,
  legends, annotations); ``smallest`` is that text.
* ``overlaps``: pairs of drawn texts whose boxes overlap (more than 15% of the smaller box).
* ``outside``: texts whose box leaves the saved canvas.

:func:`problems` turns a record into readable complaints; the rule (``MIN_PX``) is the
projector rule of the design: at least 11 px in a 1000-px column.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

COLUMN_PX = 1000
MIN_PX = 11.0
OVERLAP_FRACTION = 0.15

_state = {"installed": False, "drawn": None}


def _record_draw(text, renderer) -> None:
    drawn = _state["drawn"]
    if drawn is None or not text.get_visible() or not text.get_text().strip():
        return
    try:
        box = text.get_window_extent(renderer)
    except Exception:           # a text that cannot be laid out is matplotlib's business
        return
    if box.width <= 0 or box.height <= 0:
        return
    drawn[id(text)] = (text, box, renderer.dpi)


def measure(fig, width_px: float, dpi: float, drawn, tight: bool = False) -> dict:
    """The record of one figure, from the texts seen while it was drawn (see module doc)."""
    scale = min(1.0, COLUMN_PX / width_px) if width_px > 0 else 1.0
    items = []
    for text, box, _ in drawn.values():
        px = text.get_fontsize() * dpi / 72.0 * scale
        items.append((text.get_text().strip().replace("\n", " ")[:60], px, box))
    record = {"width_px": round(width_px), "scale": round(scale, 3), "min_px": None,
              "smallest": "", "overlaps": [], "outside": [],
              "title": _figure_title(fig)}
    if not items:
        return record
    smallest = min(items, key=lambda it: it[1])
    record["min_px"] = round(smallest[1], 1)
    record["smallest"] = smallest[0]
    canvas_w, canvas_h = fig.canvas.get_width_height()
    for i, (label, _, box) in enumerate(items):
        if not tight and (box.x0 < -1 or box.y0 < -1 or box.x1 > canvas_w + 1
                          or box.y1 > canvas_h + 1):
            record["outside"].append(label)
        for other, _, obox in items[i + 1:]:
            w = min(box.x1, obox.x1) - max(box.x0, obox.x0)
            h = min(box.y1, obox.y1) - max(box.y0, obox.y0)
            if w <= 0 or h <= 0:
                continue
            smaller = min(box.width * box.height, obox.width * obox.height)
            if w * h > OVERLAP_FRACTION * smaller and w * h > 4:
                record["overlaps"].append([label, other])
    return record


def _figure_title(fig) -> str:
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text().strip():
        return sup.get_text().strip()[:60]
    for ax in fig.axes:
        t = ax.get_title().strip()
        if t:
            return t[:60]
    return f"figure {fig.number}" if hasattr(fig, "number") else "figure"


def problems(record: dict, min_px: float = MIN_PX) -> list[str]:
    """Readable complaints about one record (empty when the figure meets the rule)."""
    name = f"figure '{record.get('title', '')}'"
    out = []
    if record.get("min_px") is not None and record["min_px"] < min_px:
        out.append(f"{name}: text '{record['smallest']}' is {record['min_px']} px in a "
                   f"{COLUMN_PX}-px column (needs >= {min_px:g}; figure {record['width_px']} px wide)")
    for a, b in record.get("overlaps", []):
        out.append(f"{name}: text '{a}' overlaps '{b}'")
    for a in record.get("outside", []):
        out.append(f"{name}: text '{a}' leaves the canvas")
    return out


def read(folder) -> list[dict]:
    """Every record written into ``folder`` (all kernels), in the order written per kernel."""
    records = []
    for f in sorted(Path(folder).glob("figures-*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                records.append(json.loads(line))
    return records


def install(folder: str | os.PathLike) -> None:
    """Measure every figure printed from now on in this process (idempotent)."""
    if _state["installed"]:
        _state["folder"] = Path(folder)
        return
    import matplotlib.text
    from matplotlib.backend_bases import FigureCanvasBase

    _state.update(installed=True, folder=Path(folder))
    original_draw = matplotlib.text.Text.draw
    original_print = FigureCanvasBase.print_figure

    def draw(self, renderer, *args, **kwargs):
        result = original_draw(self, renderer, *args, **kwargs)
        _record_draw(self, renderer)
        return result

    def print_figure(self, filename, *args, **kwargs):
        if _state["drawn"] is not None:              # nested: measured by the outer call
            return original_print(self, filename, *args, **kwargs)
        _state["drawn"] = drawn = {}
        try:
            result = original_print(self, filename, *args, **kwargs)
        finally:
            _state["drawn"] = None
        try:
            _write(self.figure, filename, kwargs, drawn)
        except Exception as err:                     # never break a figure over a measurement
            print(f"(figure check failed: {type(err).__name__}: {err})")
        return result

    matplotlib.text.Text.draw = draw
    FigureCanvasBase.print_figure = print_figure
    try:                                             # which cell shows each figure
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None:
            ip.events.register("pre_run_cell",
                               lambda info: _state.update(cell=cell_key(info.raw_cell or "")))
    except Exception:
        pass


def cell_key(source: str) -> str:
    """A short digest of a cell's source: how a record names the cell that showed it."""
    import hashlib

    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:12]


def _write(fig, filename, kwargs, drawn) -> None:
    fmt = (kwargs.get("format") or "").lower()
    if fmt and fmt not in ("png", "retina", "jpg", "jpeg"):
        return
    dpi = kwargs.get("dpi") or fig.dpi
    if dpi == "figure":
        dpi = fig.dpi
    width_px = None
    if hasattr(filename, "getvalue"):                # the inline backend prints into BytesIO
        data = filename.getvalue()
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            width_px = int.from_bytes(data[16:20], "big")
    if width_px is None:
        width_px = fig.get_figwidth() * dpi
    # every text was drawn at the print dpi; tight bbox crops but does not rescale
    record = measure(fig, width_px, dpi, drawn, tight=kwargs.get("bbox_inches") == "tight")
    record["cell"] = _state.get("cell")
    folder = _state["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"figures-{os.getpid()}.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
