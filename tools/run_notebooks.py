"""Execute every notebook headless and write executed copies and HTML under build/.

    python tools/run_notebooks.py                  # auto profile (gpu if a GPU, else cpu)
    python tools/run_notebooks.py --profile smoke  # the quick run the tests use
    python tools/run_notebooks.py 01 05            # only some notebooks
    python tools/run_notebooks.py path/to/x.ipynb  # a notebook outside notebooks/

Prints one summary line per notebook: profile, device, data sources, seconds, ok/FAILED, and
what a reader of the saved copy would wrongly see (``helpers/plumbing/nbchecks.py``: frozen
progress frames, widget reprs, stray results, double prints; ``figcheck.py``: figure text under
11 px in a 1000-px column, overlapping text). Kernels run with ``NB_HEADLESS=1`` (no progress
bars: nobody watches them, and a saved notebook would keep their frozen frames); the text form of
each widget is replaced by one line saying it is an interactive control. ``build/summary.json``
holds every notebook's result. ``--record`` writes the measured seconds of the notebooks that ran
ok into ``notebooks/runtimes.json`` (with the machine they ran on), from which
``tools/sync_notebooks.py`` renders the runtimes of the README and of each notebook's header.
Exit status 1 if any notebook failed.

One Ctrl-C (SIGINT) or SIGTERM stops the whole run within seconds: the running notebook's kernel
is killed, nothing of that notebook is written (every output file is written under a temporary
name and then renamed), the notebooks that finished are listed, and the exit status is 130
(SIGINT) or 143 (SIGTERM).
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers.plumbing import figcheck, nbchecks  # noqa: E402  (no torch: plain modules)
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent
#: longest single wait on a kernel channel before asking again (see :func:`repoll`)
POLL_STEP_S = 1.0
#: after a stop request, how long the notebook's thread may take to kill its kernel and end
STOP_GRACE_S = 10.0


class Interrupted(Exception):
    """The run was asked to stop (SIGINT or SIGTERM) while a notebook was running."""


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
    """NotebookClient whose shell and IOPub waits use :func:`repoll` and that can be stopped.

    :meth:`run` executes the notebook on an event loop in a worker thread, so signals reach only
    the main thread's handlers (nbclient's own SIGINT/SIGTERM handlers, which shut the kernel
    down but let the caller go on with the next notebook, are not installed outside the main
    thread). :meth:`stop` may be called from any thread, e.g. a signal handler.
    """

    _stop_requested = False
    _loop = _task = None
    kernel_pgid = None

    async def async_start_new_kernel(self, **kwargs):
        await super().async_start_new_kernel(**kwargs)
        # the kernel leads its own process group (jupyter_client starts a new session)
        self.kernel_pgid = getattr(self.km.provisioner, "pgid", None)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = repoll(channel.get_msg)
        return kc

    def stop(self, kill: bool = False) -> None:
        """Stop executing: cancel the running cell and kill the kernel (no graceful shutdown).

        ``kill`` also sends SIGKILL to the kernel's process group at once, from this thread.
        """
        self._stop_requested = True
        self.shutdown_kernel = "immediate"
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:                     # the loop has closed: nothing left to stop
                pass
        if kill:
            self.kill_kernel()

    def kill_kernel(self) -> None:
        if self.kernel_pgid:
            try:
                os.killpg(self.kernel_pgid, signal.SIGKILL)
            except OSError:                          # already gone
                pass

    async def _execute_stoppably(self):
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            if self._stop_requested:                 # asked to stop before the loop was known
                raise asyncio.CancelledError
            await self.async_execute()
        finally:
            # A stop during the kernel's start skips nbclient's own clean-up: do it here.
            atexit.unregister(self._cleanup_kernel)
            if self.km is not None:
                try:
                    await self._async_cleanup_kernel()
                except Exception:
                    self.kill_kernel()

    def run(self) -> None:
        """Execute the notebook; raise :class:`Interrupted` if :meth:`stop` was called."""
        outcome = {}

        def work():
            try:
                asyncio.run(self._execute_stoppably())
            except BaseException as err:             # handed to the calling thread
                outcome["error"] = err

        worker = threading.Thread(target=work, name="notebook", daemon=True)
        worker.start()
        stop_seen = None
        while worker.is_alive():
            try:
                worker.join(0.2)
            except BaseException:                    # e.g. KeyboardInterrupt where no handler is set
                self.stop()
                worker.join(STOP_GRACE_S)
                self.kill_kernel()
                raise
            if self._stop_requested:
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > STOP_GRACE_S:
                    self.kill_kernel()               # the thread is stuck: leave it (daemon)
                    break
        if self._stop_requested:
            raise Interrupted()
        if "error" in outcome:
            raise outcome["error"]


class StopRequest:
    """Signal handler for SIGINT and SIGTERM: remember the first signal, stop the running client.

    A second signal kills the running kernel at once.
    """

    def __init__(self):
        self.signum = None
        self.client = None

    def __call__(self, signum, frame=None):
        again = self.signum is not None
        self.signum = self.signum or signum
        client = self.client
        if client is not None:
            client.stop(kill=again)


STOP = StopRequest()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` under a temporary name in the same folder, then rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    """Execute one notebook; write it executed (and as HTML) into ``out_dir``.

    Raises :class:`Interrupted`, writing nothing, when :data:`STOP` stops it.
    """
    nb = nbformat.read(path, as_version=4)
    report_file = Path(tempfile.mkstemp(suffix=".json")[1])
    report_file.write_text("{}")
    fig_dir = Path(tempfile.mkdtemp(prefix="nb-figcheck-"))
    kernel_env = {"NB_REPORT": str(report_file), "NB_FIGCHECK": str(fig_dir), "NB_HEADLESS": "1"}
    previous_env = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)                        # the kernel inherits them
    client = RepollingClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    running = {}
    client.on_cell_start = lambda cell, cell_index: running.update(cell=cell, index=cell_index)
    t0 = time.perf_counter()
    error = ""
    STOP.client = client
    try:
        if STOP.signum is not None:
            raise Interrupted()
        client.run()
    except CellTimeoutError:
        error = (f"cell {running.get('index', '?')} ({cell_name(nb, running.get('index'))}) "
                 f"ran longer than {cell_timeout} s and was stopped")
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
    except Interrupted:
        report_file.unlink(missing_ok=True)
        raise
    except Exception as err:  # kernel died, etc.
        error = f"{type(err).__name__}: {err}"[:200]
    finally:
        STOP.client = None
        for k, v in previous_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    load = round(os.getloadavg()[1], 1) if hasattr(os, "getloadavg") else None   # over 5 minutes
    static = static_view_problems(nb, fig_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / path.name, nbformat.writes(nb))
    try:
        from nbconvert import HTMLExporter

        html, _ = HTMLExporter().from_notebook_node(nb)
        write_atomic(out_dir / path.with_suffix(".html").name, html)
    except Exception as err:
        print(f"  (HTML export of {path.name} failed: {err})")
    try:
        report = json.loads(report_file.read_text() or "{}")
    finally:
        report_file.unlink(missing_ok=True)
    return {"name": path.stem, "seconds": seconds, "error": error, "static_view": static,
            "load average": load, **report}


def static_view_problems(nb, fig_dir: Path) -> dict:
    """Strip widget text from ``nb`` (in place); what a reader of the saved copy would still see.

    Returns ``{kind: [where: what, ...]}`` for :data:`nbchecks.KINDS` plus ``"figures"``
    (figcheck's complaints) and ``"figures measured"`` (how many figures were measured).
    """
    import shutil

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = nbchecks.merge_streams(cell.get("outputs", []))
            nbchecks.strip_widget_text(cell.outputs)
    found = nbchecks.notebook_problems(nb)
    records = figcheck.read(fig_dir)
    shutil.rmtree(fig_dir, ignore_errors=True)
    cell_of = {figcheck.cell_key(c.source): i for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    found["figures"] = [f"cell {cell_of.get(r.get('cell'), '?')}: {p}"
                        for r in records for p in figcheck.problems(r)]
    found["figures measured"] = len(records)
    return found


def static_view_line(static: dict) -> str:
    """One line: the counts of :func:`static_view_problems`."""
    counts = ", ".join(f"{len(static.get(k, []))} {k}" for k in nbchecks.KINDS)
    return (f"static view: {counts}; {static.get('figures measured', 0)} figures measured, "
            f"{len(static.get('figures', []))} figure problems (text < {figcheck.MIN_PX:g} px, overlaps)")


MAX_DETAILS = 12
RUNTIMES = ROOT / "notebooks" / "runtimes.json"


def write_summary(out_dir: Path, result: dict) -> None:
    """Merge one notebook's result into ``out_dir/summary.json``: ``{profile: {notebook: result}}``,
    the latest run of each notebook in each profile."""
    path = out_dir / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        summary = {}
    if any(isinstance(v, dict) and "name" in v for v in summary.values()):   # older layout
        old, summary = summary, {}
        for r in old.values():
            summary.setdefault(r.get("profile", "?"), {})[r["name"]] = r
    summary.setdefault(result.get("profile", "?"), {})[result["name"]] = result
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary, indent=1, default=str) + "\n")


def machine() -> str:
    """'N-core <cpu model>' (and the GPU, if torch sees one): where runtimes were measured."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core {model}"


def record_runtimes(results: list[dict]) -> None:
    """Write the seconds of every notebook that ran ok into :data:`RUNTIMES`, per profile."""
    try:
        table = json.loads(RUNTIMES.read_text())
    except (OSError, ValueError):
        table = {}
    stamp = time.strftime("%Y-%m-%d")
    for r in results:
        if r["error"] or r.get("profile") not in ("smoke", "cpu", "gpu"):
            continue
        entry = {"seconds": round(r["seconds"], 1), "measured": stamp, "machine": machine(),
                 "load average": r.get("load average"),
                 "device": r.get("device", "?"),
                 "data": "; ".join(f"{k}: {v}" for k, v in r.get("sources", {}).items())}
        table.setdefault(r["profile"], {})[r["name"]] = entry
    write_atomic(RUNTIMES, json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"recorded the runtimes of {sum(not r['error'] for r in results)} notebooks in "
          f"{RUNTIMES.relative_to(ROOT)}")


def select(only: list[str]) -> list[Path]:
    """The notebooks to run: all of notebooks/, those with the given numbers, and given paths."""
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return paths
    numbers = [item for item in only if not item.endswith(".ipynb")]
    files = [Path(item).resolve() for item in only if item.endswith(".ipynb")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)}")
    return [p for p in paths if p.name[:2] in numbers] + files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*",
                        help="notebook numbers (01) or .ipynb paths to run (default: all of notebooks/)")
    parser.add_argument("--profile", choices=["smoke", "cpu", "gpu"],
                        help="NB_PROFILE for the run (default: automatic)")
    parser.add_argument("--out", default=str(ROOT / "build"), help="output folder")
    parser.add_argument("--cell-timeout", type=int, default=900,
                        help="seconds one cell may run before the run is stopped")
    parser.add_argument("--record", action="store_true",
                        help="write the seconds of the notebooks that ran ok into notebooks/runtimes.json")
    parser.add_argument("--record-from", metavar="SUMMARY",
                        help="record the runtimes of an earlier run (its summary.json; the notebooks "
                             "given, or all; only --profile's, if given) instead of running anything")
    args = parser.parse_args(argv)
    if args.record_from:
        summary = json.loads(Path(args.record_from).read_text())
        picked = [r for profile, runs in summary.items() for r in runs.values()
                  if (not args.profile or profile == args.profile)
                  and (not args.only or r["name"][:2] in args.only or r["name"] in args.only)]
        record_runtimes(picked)
        return 0
    if args.profile:
        os.environ["NB_PROFILE"] = args.profile
    paths = select(args.only)
    if not paths:
        print("no notebooks matched")
        return 1
    results = []
    previous = {sig: signal.signal(sig, STOP) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for path in paths:
            if STOP.signum is not None:
                break
            print(f"running {path.name} ...", flush=True)
            try:
                r = run_one(path, Path(args.out), args.cell_timeout)
            except Interrupted:
                print(f"{path.stem:<28} stopped: its kernel was shut down, nothing of it was written",
                      flush=True)
                break
            results.append(r)
            sources = "; ".join(f"{k}: {v}" for k, v in r.get("sources", {}).items()) or "none"
            status = "ok" if not r["error"] else f"FAILED ({r['error']})"
            print(f"{r['name']:<28} profile={r.get('profile', '?'):<5} device={r.get('device', '?'):<5} "
                  f"{r['seconds']:7.1f}s  {status}\n{'':<28} data: {sources}\n"
                  f"{'':<28} {static_view_line(r['static_view'])}", flush=True)
            details = [d for k in (*nbchecks.KINDS, "figures") for d in r["static_view"].get(k, [])]
            for d in details[:MAX_DETAILS]:
                print(f"{'':<30}{d}", flush=True)
            if len(details) > MAX_DETAILS:
                print(f"{'':<30}... {len(details) - MAX_DETAILS} more in {args.out}/summary.json")
            write_summary(Path(args.out), r)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [r["name"] for r in results if r["error"]]
    if STOP.signum is not None:
        finished = ", ".join(f"{r['name']} ({'FAILED' if r['error'] else 'ok'})" for r in results)
        print(f"\ninterrupted by {signal.Signals(STOP.signum).name}: {len(results)} of {len(paths)} "
              f"notebooks finished" + (f": {finished}" if finished else "")
              + (f"; their executed copies and HTML are in {args.out}" if results else ""), flush=True)
        return 128 + STOP.signum
    if args.record:
        record_runtimes(results)
    print(f"\n{len(results) - len(failed)} of {len(results)} notebooks ok; executed notebooks "
          f"and HTML in {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
