"""A student's visit in a real browser: JupyterLab in headless Chromium, driven by Playwright.

    make test-browser                       # or: pytest -m browser tests/test_browser.py -s

Not part of `make test` / `make test-unit` (marker `browser`; the root conftest.py leaves this
file out unless `-m browser` or the file itself is asked for). Needs the packages of
requirements-test.txt and a Chromium: Debian's /usr/bin/chromium, or CHROMIUM=/path/to/chromium
(Playwright's own browser download is not used).

One JupyterLab server (127.0.0.1, a random token, a free port, NB_PROFILE=smoke, NB_OFFLINE=1)
and one browser serve the whole session. For every notebook in notebooks/:

- ``test_first_screen``: opened at 1280x800 before anything runs, the title, the Colab badge and
  the "What you will learn" list are inside the window, and the bootstrap cell is collapsed.
- ``test_run_all_and_move_a_widget``: Run > Run All Cells; no cell ends in an error, no
  traceback anywhere, every ``interact`` renders as controls (no "Error displaying widget", no
  raw ``interactive(...)`` text); then one widget is moved with the keyboard or a chooser and
  the figure or text it drives must change.

Screenshots (NN_name_first.png: the first screen; NN_name.png: the moved widget and its new
output) and summary.json / summary.md (what was moved and what changed) go to build/browser/.
Every wait is bounded (BROWSER_NB_TIMEOUT: seconds from Run All Cells to an idle kernel, default
600); the server (and its kernels) and the browser are stopped even when a check fails. Nothing is
saved: autosave is off and checkpoints go to a temporary folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OUT = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
#: seconds one notebook may take from Run All Cells to an idle kernel (smoke: 15-80 s on a quiet
#: 2-core machine; several times that when other work shares the cores)
RUN_TIMEOUT_S = float(os.environ.get("BROWSER_NB_TIMEOUT", "600"))
#: seconds a moved widget may take to redraw what it drives
WIDGET_TIMEOUT_S = 120.0
SERVER_START_S = 90.0

#: which widget to move in each notebook: the interact (0 = first on the page), the control's
#: label, and for a manual interact the button to press. A notebook not listed gets its first
#: interact's first slider or chooser.
MOVES = {
    "01": {"interact": 0, "label": "k"},                        # smoothing kernel size 7 -> 9
    "02": {"interact": 0, "label": "seed"},                     # augmentation draw 0 -> 1
    "03": {"interact": 0, "label": "photo"},                    # another photo explained
    "04": {"interact": 0, "label": "photo", "button": "Run attack"},
    "05": {"interact": 0, "label": "k"},                        # bottleneck size 8 -> next
    "06": {"interact": 0, "label": "k"},                        # rank 16 -> 17
    "07": {"interact": 0, "label": "draw"},                     # labelled-example draw 0 -> 1
}

# JupyterLab settings for the test server (a fresh settings folder): never save a notebook (the
# committed notebooks stay without outputs), all cells in the DOM, no calls to outside hosts.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}

SUMMARY: dict[str, dict] = {}


# --------------------------------------------------------------------------- server and browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server in its own process group, and its REST API."""

    def __init__(self):
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = Path(tempfile.mkdtemp(prefix="browser-test-lab-"))
        self.proc = None
        self.log = None

    def start(self):
        settings = self.home / "settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ, NB_PROFILE="smoke", NB_OFFLINE="1", NB_STATIC_WIDGETS="0",   # live sliders
                   PYDEVD_DISABLE_FILE_VALIDATION="1",
                   JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"))
        OUT.mkdir(parents=True, exist_ok=True)
        self.log = open(OUT / "jupyterlab.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             f"--ServerApp.token={self.token}", "--ServerApp.ip=127.0.0.1", f"--port={self.port}",
             "--ServerApp.port_retries=0", f"--ServerApp.root_dir={ROOT}",
             f"--LabApp.user_settings_dir={settings}",
             f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
             f"--FileCheckpoints.checkpoint_dir={self.home / 'checkpoints'}",   # not in notebooks/
             "--LabApp.expose_app_in_browser=True"],       # window.jupyterapp: read the models
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}: "
                                   f"see {OUT / 'jupyterlab.log'}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S:.0f} s: "
                           f"see {OUT / 'jupyterlab.log'}")

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self):
        """Shut every session and kernel down (between notebooks: memory stays bounded)."""
        try:
            for s in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{s['id']}", timeout=30)
            for k in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{k['id']}", timeout=30)
        except (OSError, urllib.error.URLError) as err:
            print(f"(could not shut the kernels down through the server: {err})")

    def kernel_pids(self) -> list[int]:
        """Kernels run in sessions of their own: find them as the server's children."""
        try:
            import psutil
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except Exception:
            return []

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shut_down_kernels()
            children = self.kernel_pids()
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            for pid in children:                            # a kernel the server left behind
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.log:
            self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def lab():
    server = Lab()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright: pip install -r requirements-test.txt")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM=/path")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                               timeout=60_000)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="session", autouse=True)
def summary():
    yield SUMMARY
    if not SUMMARY:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.json").write_text(json.dumps(SUMMARY, indent=2, ensure_ascii=False) + "\n")
    lines = ["| notebook | first screen | run all cells | seconds | widget moved | what changed |",
             "|---|---|---|---|---|---|"]
    for name, r in sorted(SUMMARY.items()):
        first = r.get("first_screen", {})
        run = r.get("run", {})
        move = r.get("move", {})
        lines.append(f"| {name} | {first.get('verdict', '-')} | {run.get('verdict', '-')} | "
                     f"{run.get('seconds', '-')} | {move.get('widget', '-')} | {move.get('changed', '-')} |")
    (OUT / "summary.md").write_text("\n".join(lines) + "\n")


@pytest.fixture
def page_for(lab, browser):
    """Opens a notebook in a fresh browser context and workspace; closes both afterwards."""
    contexts = []

    def open_notebook(path: Path, kernel: bool):
        ctx = browser.new_context(viewport=VIEWPORT)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        workspace = f"test-{path.stem[:2]}-{secrets.token_hex(4)}"   # no tabs restored
        rel = path.relative_to(ROOT).as_posix()
        page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{rel}?token={lab.token}",
                  timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && jupyterapp.shell.currentWidget"
            " && jupyterapp.shell.currentWidget.content"
            " && jupyterapp.shell.currentWidget.content.widgets"
            " && jupyterapp.shell.currentWidget.content.widgets.length > 0", timeout=60_000)
        dialog = settle_kernel(page, start=kernel)
        wait_rendered(page)
        return page, dialog

    yield open_notebook
    for ctx in contexts:
        try:
            ctx.close()
        except Exception:
            pass
    lab.shut_down_kernels()


def cpu_seconds(lab) -> dict:
    """CPU seconds used so far by the kernels, the JupyterLab server and the browser (to see
    where a slow notebook's time goes on a small machine)."""
    try:
        import psutil
    except ImportError:
        return {}

    def used(procs):
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    try:
        server = psutil.Process(lab.proc.pid)
        kernels = server.children(recursive=True)
        browser = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]
        return {"kernel": used(kernels), "server": used([server]), "browser": used(browser)}
    except psutil.Error:
        return {}


# --------------------------------------------------------------------------- page helpers

def settle_kernel(page, start: bool, timeout: float = 90) -> str | None:
    """Answer a "Select Kernel" dialog (the default kernel, or "No Kernel" when ``start`` is
    false), and with ``start`` wait for an idle kernel. Returns the dialog's title, if any."""
    shown, status = None, None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog").first
        if dialog.count() and dialog.is_visible():
            shown = shown or dialog.locator(".jp-Dialog-header").inner_text().strip()
            dialog.locator(".jp-Dialog-button.jp-mod-accept" if start else
                           ".jp-Dialog-button.jp-mod-reject").first.click()
            page.wait_for_timeout(500)
            continue
        status = page.evaluate("() => jupyterapp.shell.currentWidget.sessionContext.kernelDisplayStatus")
        if status == "idle" or (not start and shown is not None):
            return shown
        page.wait_for_timeout(500)
    raise AssertionError(f"the kernel did not become idle within {timeout:.0f} s "
                         f"(last status {status!r}, dialog {shown!r})")


def wait_rendered(page, timeout: float = 30):
    """Markdown rendered (MathJax included) and fonts loaded before anything is measured."""
    page.wait_for_function("() => [...document.querySelectorAll('.jp-MarkdownCell')]"
                           ".every(c => c.querySelector('.jp-RenderedMarkdown'))", timeout=timeout * 1000)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_timeout(1500)                 # MathJax typesets asynchronously


RUN_STATE_JS = """() => {
  const w = jupyterapp.shell.currentWidget, m = w.content.model;
  let total = 0, ran = 0; const errors = [];
  for (let i = 0; i < m.cells.length; i++) {
    const c = m.cells.get(i);
    if (c.type !== 'code' || !c.sharedModel.getSource().trim()) continue;
    total++;
    if (c.executionCount !== null) ran++;
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: String(o.evalue).slice(0, 300)});
    }
  }
  const cells = [...w.content.node.querySelectorAll('.jp-Cell')];
  const busy = cells.map((c, i) => [i, c.querySelector('.jp-InputArea-prompt')])
    .filter(([i, p]) => p && p.textContent.includes('*')).map(([i]) => i);
  const running = busy.length ? busy[0] : null;
  const line = running === null ? '' : m.cells.get(running).sharedModel.getSource().trim().split('\\n')[0];
  return {status: w.sessionContext.kernelDisplayStatus, total, ran, stars: busy.length, errors,
          running, running_line: line.slice(0, 80)};
}"""

DOM_PROBLEMS_JS = r"""() => {
  const nb = jupyterapp.shell.currentWidget.content.node, problems = [];
  const cells = [...nb.querySelectorAll('.jp-Cell')];
  const where = el => 'cell ' + cells.findIndex(c => c.contains(el));
  if (nb.innerText.includes('Error displaying widget'))
    problems.push('"Error displaying widget" is shown');
  for (const o of nb.querySelectorAll('.jp-OutputArea-output')) {
    const text = o.innerText || '';
    if (text.includes('Traceback (most recent call last)') && !o.querySelector('.jp-OutputArea-output'))
      problems.push(where(o) + ': a traceback: ' + text.split('\n').filter(l => /\w+(Error|Exception)\b/.test(l)).slice(-1)[0]);
    if (o.getAttribute('data-mime-type') === 'text/plain'
        && /^\s*(interactive|HBox|VBox|Box|IntSlider|FloatSlider|Dropdown|Output|Button|FloatProgress|IntProgress)\(/.test(text))
      problems.push(where(o) + ': a widget shown as text: ' + text.slice(0, 80));
  }
  return problems;
}"""

WIDGETS_JS = """() => {
  const nb = jupyterapp.shell.currentWidget.content.node;
  const controls = '.widget-slider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, '
                 + '.widget-text, .widget-button, .widget-radio, .widget-select';
  return [...nb.querySelectorAll('.widget-interact')].map(w => ({
    controls: [...w.querySelectorAll(controls)].map(c => {
      const label = c.querySelector('.widget-label');
      return (label ? label.textContent.trim() : '') + ':' + c.className.match(/widget-(slider|dropdown|toggle-buttons|checkbox|text|button|radio|select)/)[1];
    }),
    outputs: w.querySelectorAll('.widget-output').length,
  }));
}"""

FIRST_SCREEN_JS = """() => {
  const panel = jupyterapp.shell.currentWidget, nb = panel.content.node;
  const view = nb.getBoundingClientRect();
  const bottom = Math.min(view.bottom, window.innerHeight), right = Math.min(view.right, window.innerWidth);
  const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                      return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const h1 = nb.querySelector('.jp-MarkdownCell h1');
  const badge = nb.querySelector('a[href*="colab.research.google.com"]');
  const learnHeading = [...nb.querySelectorAll('.jp-MarkdownCell h2')]
    .find(h => h.textContent.trim().startsWith('What you will learn'));
  let list = learnHeading ? learnHeading.nextElementSibling : null;
  while (list && !['UL', 'OL'].includes(list.tagName)) list = list.nextElementSibling;
  const code = [...nb.querySelectorAll('.jp-CodeCell')][0];
  const cellWidget = panel.content.widgets.find(c => c.model.type === 'code');
  return {
    view: {bottom, right},
    title: box(h1), badge: box(badge), learn_heading: box(learnHeading), learn_list: box(list),
    bootstrap: code ? {
      input_hidden: cellWidget ? cellWidget.inputHidden : null,
      placeholder: code.querySelector('.jp-InputPlaceholder') !== null,
      editor_visible: [...code.querySelectorAll('.jp-InputArea-editor')].some(e => e.offsetParent !== null),
      first_line: (cellWidget ? cellWidget.model.sharedModel.getSource() : '').split('\\n')[0],
      metadata: cellWidget ? {jupyter: cellWidget.model.getMetadata('jupyter') || null,
                              cellView: cellWidget.model.getMetadata('cellView') || null} : null,
    } : null,
  };
}"""


def run_all_cells(page, timeout: float = RUN_TIMEOUT_S) -> dict:
    """Run > Run All Cells, then wait (bounded) for an idle kernel and no pending cell. Returns
    the final state with ``slowest``: the cells that ran longest as seen from the page."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    t0 = time.monotonic()
    deadline = t0 + timeout
    done_before = False
    state, durations, current, since = {}, {}, None, t0
    while time.monotonic() < deadline:
        state = page.evaluate(RUN_STATE_JS)
        now = time.monotonic()
        if state["running"] != current:
            if current is not None:
                durations[current] = durations.get(current, 0) + now - since
            current, since = state["running"], now
        done = (state["status"] == "idle" and state["stars"] == 0
                and (state["ran"] == state["total"] or state["errors"]))
        if done and done_before:                     # idle twice in a row, a second apart
            state["slowest"] = {f"cell {i}": round(d) for i, d in
                                sorted(durations.items(), key=lambda kv: -kv[1])[:4]}
            return state
        done_before = done
        page.wait_for_timeout(1000)
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
    if state.get("running") is not None:             # the failure screenshot shows that cell
        cells.nth(state["running"]).scroll_into_view_if_needed()
    raise AssertionError(
        f"Run All Cells did not finish within {timeout:.0f} s: {state['ran']} of {state['total']} "
        f"code cells ran; cell {state.get('running')} ({state.get('running_line')!r}) has been "
        f"running for {time.monotonic() - since:.0f} s; kernel {state.get('status')}")


def interact_locator(page, index: int):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact").nth(index)


def output_signature(interact) -> dict:
    """What a widget's output shows: its images (a digest each) and its text."""
    out = interact.evaluate("""w => {
        const o = w.querySelector('.widget-output');
        if (!o) return {images: [], text: ''};
        return {images: [...o.querySelectorAll('img')].map(i => i.getAttribute('src') || ''),
                text: o.innerText.trim()};
    }""")
    return {"images": [hashlib.sha1(s.encode()).hexdigest()[:10] for s in out["images"]],
            "image_bytes": [len(s) * 3 // 4 for s in out["images"]],
            "text": out["text"]}


def control_value(control, kind: str) -> str:
    if kind == "dropdown":
        return control.locator("select").evaluate("s => s.options[s.selectedIndex].text")
    readout = control.locator(".widget-readout")
    if readout.count():
        return readout.first.inner_text().strip()
    return control.locator(".noUi-handle").first.get_attribute("aria-valuetext") or ""


def move_widget(page, interact, label: str | None) -> dict:
    """Move the control named ``label`` (or the first slider or chooser) one step; return what
    was moved: label, kind, value before and after."""
    candidates = interact.locator(".widget-slider, .widget-dropdown")
    chosen = None
    for i in range(candidates.count()):
        c = candidates.nth(i)
        name = c.locator(".widget-label").first.inner_text().strip() if c.locator(".widget-label").count() else ""
        if label is None or name == label:
            chosen, label = c, name
            break
    assert chosen is not None, f"no slider or chooser labelled {label!r} in this interact"
    kind = "dropdown" if "widget-dropdown" in (chosen.get_attribute("class") or "") else "slider"
    chosen.scroll_into_view_if_needed()
    before = control_value(chosen, kind)
    if kind == "slider":
        handle = chosen.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
    else:
        select = chosen.locator("select")
        n = select.evaluate("s => s.options.length")
        current = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(current + 1) % n)
    page.wait_for_timeout(300)
    after = control_value(chosen, kind)
    return {"label": label, "kind": kind, "before": before, "after": after}


def wait_changed(page, interact, before: dict, timeout: float = WIDGET_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    last, now = None, before
    while time.monotonic() < deadline:
        now = output_signature(interact)
        idle = page.evaluate("() => jupyterapp.shell.currentWidget.sessionContext.kernelDisplayStatus") == "idle"
        if idle and now != before and (now["images"] or now["text"]) and now == last:
            return now
        last = now
        page.wait_for_timeout(700)
    raise AssertionError(f"the output did not change within {timeout:.0f} s: before {before}, now {now}")


def describe_change(before: dict, after: dict) -> str:
    parts = []
    if before["images"] != after["images"]:
        parts.append(f"figure {'+'.join(before['images']) or 'none'} ({sum(before['image_bytes']) / 1e3:.1f} kB)"
                     f" -> {'+'.join(after['images']) or 'none'} ({sum(after['image_bytes']) / 1e3:.1f} kB)")
    if before["text"] != after["text"]:
        short = lambda t: (t.replace("\n", " / ")[:100] or "empty")
        parts.append(f"text '{short(before['text'])}' -> '{short(after['text'])}'")
    return "; ".join(parts)


# --------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_screen(page_for, path):
    """Before anything runs: the title, the badge and "What you will learn" fit a 1280x800
    window, and the bootstrap cell is collapsed (its source hidden, one line shown)."""
    page, dialog = page_for(path, kernel=False)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{path.stem}_first.png"))
    m = page.evaluate(FIRST_SCREEN_JS)
    problems = []
    for what in ("title", "badge", "learn_heading", "learn_list"):
        box = m[what]
        if box is None:
            problems.append(f"no {what.replace('_', ' ')} found")
        elif box["bottom"] > m["view"]["bottom"] + 1 or box["right"] > m["view"]["right"] + 1:
            problems.append(f"the {what.replace('_', ' ')} ends at y={box['bottom']:.0f}, below the "
                            f"window's {m['view']['bottom']:.0f}")
    boot = m["bootstrap"] or {}
    collapsed = bool(boot.get("input_hidden")) and boot.get("placeholder") and not boot.get("editor_visible")
    if not collapsed:
        problems.append(f"the bootstrap cell is not collapsed (its metadata: {boot.get('metadata')}; "
                        "it needs \"jupyter\": {\"source_hidden\": true})")
    SUMMARY.setdefault(path.stem, {})["first_screen"] = {
        "verdict": "ok" if not problems else "; ".join(problems),
        "kernel_dialog": dialog, "bootstrap": boot,
        "learn_list_bottom": m["learn_list"] and round(m["learn_list"]["bottom"]),
        "window_bottom": round(m["view"]["bottom"]),
    }
    print(f"\n{path.stem}: first screen {SUMMARY[path.stem]['first_screen']['verdict']}"
          + (f" (JupyterLab asked: {dialog})" if dialog else ""))
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_and_move_a_widget(page_for, lab, path):
    """Run > Run All Cells: no error, every widget a control; one widget moved changes its output."""
    record = SUMMARY.setdefault(path.stem, {})
    record["run"] = {"verdict": "not finished"}
    try:
        page, dialog = page_for(path, kernel=True)
        t0, cpu0 = time.monotonic(), cpu_seconds(lab)
        state = run_all_cells(page)
        seconds = time.monotonic() - t0
        cpu1 = cpu_seconds(lab)
        record["run"]["cpu_seconds"] = {k: round(cpu1[k] - cpu0.get(k, 0), 1) for k in cpu1}
        record["run"].update(seconds=round(seconds, 1), cells=state["total"], ran=state["ran"],
                             errors=state["errors"], slowest=state["slowest"], kernel_dialog=dialog)
        print(f"\n{path.stem}: ran {state['ran']} of {state['total']} code cells in {seconds:.0f} s "
              f"(longest: {', '.join(f'{k} {v} s' for k, v in state['slowest'].items())}; CPU seconds: "
              f"{', '.join(f'{k} {v:.0f}' for k, v in record['run']['cpu_seconds'].items())})")
        assert not state["errors"], f"{path.name}: cells ended in errors: {state['errors']}"
        problems = page.evaluate(DOM_PROBLEMS_JS)
        assert not problems, f"{path.name}: " + "; ".join(problems)

        source = "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                           for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        expected = len(re.findall(r"\b(?:interact(?:\.options\([^)]*\))?|plots\.explore)\(", source))
        rendered = page.evaluate(WIDGETS_JS)
        record["run"]["interacts"] = rendered
        assert expected, f"{path.name}: no widgets.interact or plots.explore in the notebook"
        assert len(rendered) >= expected, (
            f"{path.name}: {expected} interact calls but {len(rendered)} rendered as widgets")
        bare = [i for i, w in enumerate(rendered) if not w["controls"] or not w["outputs"]]
        assert not bare, f"{path.name}: interact(s) {bare} rendered without controls or output: {rendered}"

        spec = MOVES.get(path.name[:2], {"interact": 0, "label": None})
        interact = interact_locator(page, spec["interact"])
        interact.scroll_into_view_if_needed()
        if spec.get("button"):                    # a manual interact: show a first result
            empty = output_signature(interact)
            interact.get_by_role("button", name=spec["button"]).click()
            wait_changed(page, interact, empty)
        before = output_signature(interact)
        moved = move_widget(page, interact, spec.get("label"))
        if spec.get("button"):
            interact.get_by_role("button", name=spec["button"]).click()
        assert moved["before"] != moved["after"], f"{path.name}: the control did not move: {moved}"
        after = wait_changed(page, interact, before)
        interact.scroll_into_view_if_needed()
        page.screenshot(path=str(OUT / f"{path.stem}.png"))
        problems = page.evaluate(DOM_PROBLEMS_JS)   # e.g. a callback that raises only now
        assert not problems, f"{path.name} after moving {moved['label']}: " + "; ".join(problems)
        record["move"] = {
            "widget": f"{moved['kind']} '{moved['label']}' {moved['before']} -> {moved['after']}"
                      + (f", then '{spec['button']}'" if spec.get("button") else ""),
            "changed": describe_change(before, after),
        }
        record["run"]["verdict"] = "ok"
        print(f"{path.stem}: moved {record['move']['widget']}: {record['move']['changed']}")
    except BaseException as err:
        record["run"]["verdict"] = f"FAILED: {(str(err).splitlines() or [type(err).__name__])[0][:300]}"
        try:
            page.screenshot(path=str(OUT / f"{path.stem}.png"))
        except Exception:
            pass
        raise
