"""tools/run_notebooks.py: a stalled cell is stopped and named; widgets never block a headless run;
one Ctrl-C or SIGTERM stops the whole run, kills its kernel and writes nothing half-done."""
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


def _start_run(tmp_path):
    """run_notebooks.py on three tiny notebooks given as paths: the second sleeps 60 s.

    Returns the process, the marker file the sleeping cell creates, and the output folder.
    """
    import subprocess

    marker = tmp_path / "sleeping"
    quick, sleepy, never = (tmp_path / f"{n}.ipynb" for n in ("97_quick", "98_sleepy", "99_never"))
    for path, source in [(quick, "x = 1"),
                         (sleepy, f"open({str(marker)!r}, 'w').close()\nimport time\ntime.sleep(60)"),
                         (never, "y = 2")]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source)]
        nbformat.write(nb, path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(out),
                             str(quick), str(sleepy), str(never)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, marker, out


def _kernels_of(pid):
    """The ipykernel processes started by process ``pid``: {kernel pid: its connection file}."""
    import psutil

    kernels = {}
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return kernels
    for child in children:
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "ipykernel_launcher" in " ".join(cmd) and "-f" in cmd:
            kernels[child.pid] = cmd[cmd.index("-f") + 1]
    return kernels


def _alive(pid):
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop_while_busy(tmp_path, signum):
    import signal
    import subprocess

    import psutil

    proc, marker, out = _start_run(tmp_path)
    try:
        deadline = time.monotonic() + 60                    # two kernel starts on a slow machine
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the sleeping cell never started:\n" + (
            proc.communicate(timeout=15)[0] if proc.poll() is not None else "")
        kernels = _kernels_of(proc.pid)
        assert len(kernels) == 1, kernels                   # the sleeping notebook's kernel
        t0 = time.monotonic()
        proc.send_signal(signum)
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 15 s after {signal.Signals(signum).name}") from None
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)
    assert proc.returncode == 128 + signum, output
    assert seconds < 10, (seconds, output)
    name = signal.Signals(signum).name
    assert f"interrupted by {name}: 1 of 3 notebooks finished: 97_quick (ok)" in output, output
    assert "98_sleepy" in output and "stopped" in output and "99_never" not in output, output
    # what finished is written; nothing of the stopped notebook, no temporary file left behind
    assert sorted(p.name for p in out.iterdir()) == [
        "97_quick.html", "97_quick.ipynb", "summary.json"], output
    import json
    summary = json.loads((out / "summary.json").read_text())
    assert [sorted(by_nb) for by_nb in summary.values()] == [["97_quick"]], summary
    # its kernel (and anything else with its connection file) is gone
    (kernel_pid, connection), = kernels.items()
    deadline = time.monotonic() + 5
    while _alive(kernel_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kernel_pid), f"kernel {kernel_pid} survived {name}"
    left = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        if connection in " ".join(p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(p.info["pid"])
    assert not left, f"processes still use {connection}: {left}"


def test_one_ctrl_c_stops_the_whole_run(tmp_path):
    import signal
    _stop_while_busy(tmp_path, signal.SIGINT)


def test_sigterm_stops_the_whole_run(tmp_path):
    import signal
    _stop_while_busy(tmp_path, signal.SIGTERM)
