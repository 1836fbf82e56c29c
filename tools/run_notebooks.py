"""Execute every notebook headless and write executed copies and HTML under build/.

    python tools/run_notebooks.py                  # auto profile (gpu if a GPU, else cpu)
    python tools/run_notebooks.py --profile smoke  # the quick run the tests use
    python tools/run_notebooks.py 01 05            # only some notebooks

Prints one summary line per notebook: profile, device, data sources, seconds, ok/FAILED.
Exit status 1 if any notebook failed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent
#: longest single wait on a kernel channel before asking again (see :func:`repoll`)
POLL_STEP_S = 1.0


def repoll(get_msg, step: float = POLL_STEP_S):
    """``get_msg(timeout)`` of a kernel channel, asked again every ``step`` seconds.

    Headless runs of widget cells sometimes lose the wake-up of a reply that has arrived: the
    wait then lasts its whole timeout (900 s here) although the kernel is idle
    (jupyter/nbclient#312; seen here after `widgets.interact` cells: a notebook that takes 25 s
    took 145 s). Many short waits find that message at the next ask. The overall timeout
    stays what the caller asked for, so a cell that really runs too long is still stopped.
    """
    async def get_msg_repolled(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_repolled


class RepollingClient(NotebookClient):
    """NotebookClient whose shell and IOPub waits use :func:`repoll`."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = repoll(channel.get_msg)
        return kc


def cell_name(nb, index) -> str:
    """'section heading: first code line' of a cell, to name a stalled cell in a report."""
    if index is None:
        return "unknown cell"
    heading = next((line.lstrip("# ").strip() for c in reversed(nb.cells[:index])
                    if c.cell_type == "markdown" for line in c.source.splitlines()
                    if line.startswith("#")), "top")
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"{heading[:50]}: {first[:60]}"


def run_one(path: Path, out_dir: Path, cell_timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    report_file = Path(tempfile.mkstemp(suffix=".json")[1])
    report_file.write_text("{}")
    previous_report = os.environ.get("NB_REPORT")
    os.environ["NB_REPORT"] = str(report_file)          # the kernel inherits it
    client = RepollingClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    running = {}
    client.on_cell_start = lambda cell, cell_index: running.update(cell=cell, index=cell_index)
    t0 = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellTimeoutError:
        error = (f"cell {running.get('index', '?')} ({cell_name(nb, running.get('index'))}) "
                 f"ran longer than {cell_timeout} s and was stopped")
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
    except Exception as err:  # kernel died, etc.
        error = f"{type(err).__name__}: {err}"[:200]
    seconds = time.perf_counter() - t0
    if previous_report is None:
        os.environ.pop("NB_REPORT", None)
    else:
        os.environ["NB_REPORT"] = previous_report
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    try:
        from nbconvert import HTMLExporter

        html, _ = HTMLExporter().from_notebook_node(nb)
        (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    except Exception as err:
        print(f"  (HTML export of {path.name} failed: {err})")
    try:
        report = json.loads(report_file.read_text() or "{}")
    finally:
        report_file.unlink(missing_ok=True)
    return {"name": path.stem, "seconds": seconds, "error": error, **report}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook numbers to run (default: all)")
    parser.add_argument("--profile", choices=["smoke", "cpu", "gpu"],
                        help="NB_PROFILE for the run (default: automatic)")
    parser.add_argument("--out", default=str(ROOT / "build"), help="output folder")
    parser.add_argument("--cell-timeout", type=int, default=900,
                        help="seconds one cell may run before the run is stopped")
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["NB_PROFILE"] = args.profile
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if p.name[:2] in args.only]
    if not paths:
        print("no notebooks matched")
        return 1
    results = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        r = run_one(path, Path(args.out), args.cell_timeout)
        results.append(r)
        sources = "; ".join(f"{k}: {v}" for k, v in r.get("sources", {}).items()) or "none"
        status = "ok" if not r["error"] else f"FAILED ({r['error']})"
        print(f"{r['name']:<28} profile={r.get('profile', '?'):<5} device={r.get('device', '?'):<5} "
              f"{r['seconds']:7.1f}s  {status}\n{'':<28} data: {sources}", flush=True)
    failed = [r["name"] for r in results if r["error"]]
    print(f"\n{len(results) - len(failed)} of {len(results)} notebooks ok; executed notebooks "
          f"and HTML in {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
