"""Keep every notebook's Colab badge and bootstrap cell identical and pointing at the one
repository address in ``pyproject.toml``; strip outputs and execution counts; render the
measured runtimes (``notebooks/runtimes.json``, written by ``tools/run_notebooks.py --record``)
into each notebook's header and the README's table, so that no runtime is typed by hand.

In a header, ``<!-- runtime:cpu -->4.2 min<!-- /runtime -->`` is rewritten with the recorded
seconds of that notebook in that profile; in the README's notebook table the ``smoke`` and
``cpu`` columns of each notebook's row are.

    python tools/sync_notebooks.py          # rewrite notebooks in place
    python tools/sync_notebooks.py --check  # exit 1 if anything would change
    python tools/sync_notebooks.py 04 notebooks/05_autoencoders.ipynb  # only these notebooks

The bootstrap cell is the code cell tagged ``bootstrap`` (the third cell of the skeleton). It is
kept collapsed: its source hidden in JupyterLab (``jupyter.source_hidden``) and shown as a form with
its ``#@title`` on Colab (``cellView: form``).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def repo_url() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
    if not match:
        raise SystemExit("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1).rstrip("/")


BOOTSTRAP_TEMPLATE = '''\
#@title Setup: run this cell first (on Colab it fetches the course code; elsewhere it does nothing)
# Bootstrap (identical in every notebook). On Google Colab: fetch or update the repository and
# put its `helpers` package on the path; torch, numpy and matplotlib stay Colab's own (never
# re-installed). Safe to run again. Anywhere else this cell does nothing: use `make setup`.
import os, subprocess, sys
REPO_URL = "{url}"
if "google.colab" in sys.modules:
    REPO_DIR = os.path.join(os.environ.get("NB_COLAB_DIR", "/content"), REPO_URL.split("/")[-1])
    had_copy = os.path.isdir(REPO_DIR)
    git = (["git", "-C", REPO_DIR, "pull", "--ff-only", "--quiet"] if had_copy else
           ["git", "clone", "--depth", "1", "--quiet", REPO_URL, REPO_DIR])
    fetched = subprocess.run(git, capture_output=True, text=True)
    if fetched.returncode != 0:
        why = (fetched.stderr.strip().splitlines() or ["no answer"])[-1]
        print("Could not " + ("update" if had_copy else "download") + " the notebooks' code from "
              + REPO_URL + " (" + why + "). Check the runtime's internet connection and run this "
              + "cell again" + ("; meanwhile the copy in " + REPO_DIR + " is used." if had_copy else "."))
    if os.path.isdir(REPO_DIR) and REPO_DIR not in sys.path:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", REPO_DIR],
                       check=True)
        sys.path.insert(0, REPO_DIR)'''


def bootstrap_source(url: str | None = None) -> str:
    return BOOTSTRAP_TEMPLATE.format(url=url or repo_url())


def badge(url: str, name: str) -> str:
    path = url.replace("https://github.com/", "")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{name})")


BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
RUNTIME_RE = re.compile(r"(<!-- runtime:(smoke|cpu|gpu) -->)(.*?)(<!-- /runtime -->)")
RUNTIMES = NOTEBOOKS / "runtimes.json"
README = ROOT / "README.md"


def load_runtimes() -> dict:
    """``{profile: {notebook stem: {"seconds": ..., "machine": ..., ...}}}`` (empty if none)."""
    import json

    try:
        return json.loads(RUNTIMES.read_text())
    except (OSError, ValueError):
        return {}


def format_seconds(seconds: float) -> str:
    """How a measured runtime is written: '16 s' under 90 s, else '4.2 min'."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def parse_seconds(text: str) -> float | None:
    """The inverse of :func:`format_seconds` (None when ``text`` is not such a runtime)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|min)\s*", text)
    if not m:
        return None
    return float(m.group(1)) * (60 if m.group(2) == "min" else 1)


def render_runtimes(source: str, stem: str, runtimes: dict) -> str:
    """``source`` with every runtime marker filled from ``runtimes`` (unknown ones left as they are)."""
    def fill(m):
        entry = runtimes.get(m.group(2), {}).get(stem)
        return m.group(0) if entry is None else m.group(1) + format_seconds(entry["seconds"]) + m.group(4)
    return RUNTIME_RE.sub(fill, source)


def readme_row_runtimes(text: str) -> dict:
    """``{(stem, profile): cell text}`` of the README's notebook table (smoke and cpu columns)."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"\| (\d\d) \| \[`(\d\d_\w+)`\]", line)
        if m:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            found[(m.group(2), "smoke")], found[(m.group(2), "cpu")] = cells[4], cells[5]
    return found


def render_readme(text: str, runtimes: dict) -> str:
    """The README with the smoke and cpu cells of its notebook table filled from ``runtimes``."""
    out = []
    for line in text.splitlines(keepends=True):
        m = re.match(r"\| (\d\d) \| \[`(\d\d_\w+)`\]", line)
        if m:
            cells = line.rstrip("\n").strip().strip("|").split("|")
            for col, profile in ((4, "smoke"), (5, "cpu")):
                entry = runtimes.get(profile, {}).get(m.group(2))
                if entry is not None:
                    cells[col] = f" {format_seconds(entry['seconds'])} "
            line = "|" + "|".join(cells) + "|\n"
        out.append(line)
    return "".join(out)


def sync(nb, name: str, url: str, runtimes: dict | None = None) -> None:
    runtimes = load_runtimes() if runtimes is None else runtimes
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
            if "bootstrap" in cell.metadata.get("tags", []):
                cell.source = bootstrap_source(url)
                # collapsed: JupyterLab hides the source, Colab shows the cell as a form (its title)
                cell.metadata["jupyter"] = {"source_hidden": True}
                cell.metadata["cellView"] = "form"
        elif cell.cell_type == "markdown":
            if "colab-badge.svg" in cell.source:
                cell.source = BADGE_RE.sub(badge(url, name), cell.source)
            cell.source = render_runtimes(cell.source, Path(name).stem, runtimes)
    nb.metadata.pop("widgets", None)
    # without a kernelspec JupyterLab opens the notebook with a "Select Kernel" dialog
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    url = repo_url()
    changed = []
    wanted = [a for a in argv if not a.startswith("--")]
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if wanted:
        picked = [p for p in paths if any(p.name.startswith(w + "_") or p.resolve() == Path(w).resolve()
                                            for w in wanted)]
        if len(picked) < len(wanted):
            raise SystemExit(f"not every argument names a notebook in notebooks/: {wanted}")
        paths = picked
    for path in paths:
        before = path.read_text()
        nb = nbformat.reads(before, as_version=4)
        sync(nb, path.name, url)
        after = nbformat.writes(nb) + "\n"
        if after != before:
            changed.append(path.name)
            if not check:
                path.write_text(after)
    if not wanted:
        before = README.read_text()
        after = render_readme(before, load_runtimes())
        if after != before:
            changed.append(README.name)
            if not check:
                README.write_text(after)
    if changed:
        print(("would change: " if check else "synced: ") + ", ".join(changed))
    return 1 if (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
