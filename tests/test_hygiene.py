"""Hygiene: notebooks stripped and with their skeleton, bootstrap cells identical, pins agree."""
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import sync_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["01_convolutions.ipynb", "02_cnn_cifar10.ipynb", "03_feature_visualization.ipynb",
            "04_adversarial_lab.ipynb", "05_autoencoders.ipynb", "06_pca_svd.ipynb",
            "07_transfer_learning.ipynb"]


def load(path):
    return nbformat.read(path, as_version=4)


def test_expected_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    for name in EXPECTED:
        assert name in names, f"missing notebook {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_and_counts_stripped(path):
    for i, cell in enumerate(load(path).cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: run tools/sync_notebooks.py"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_bootstrap_cell_identical_and_third(path):
    cells = load(path).cells
    tagged = [i for i, c in enumerate(cells) if "bootstrap" in c.metadata.get("tags", [])]
    assert tagged == [2], f"{path.name}: exactly one cell tagged 'bootstrap', the third; got {tagged}"
    assert cells[2].source == sync_notebooks.bootstrap_source(), (
        f"{path.name}: bootstrap cell differs from tools/sync_notebooks.py: run that tool")
    assert cells[2].metadata.get("jupyter", {}).get("source_hidden") is True, (
        f"{path.name}: the bootstrap cell must be collapsed in JupyterLab: run tools/sync_notebooks.py")
    assert cells[2].metadata.get("cellView") == "form" and cells[2].source.startswith("#@title "), (
        f"{path.name}: the bootstrap cell must show as a titled form on Colab: run tools/sync_notebooks.py")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_skeleton(path):
    cells = load(path).cells
    md = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    first = cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "title first"
    assert sync_notebooks.badge(sync_notebooks.repo_url(), path.name) in first.source, "Colab badge"
    assert "lecture" in first.source.lower(), "say which lecture it follows"
    for heading in ("What you will learn", "Prerequisites", "Expected runtime",
                    "Try it", "Summary", "References"):
        assert re.search(rf"^#+ .*{heading}", md, flags=re.M | re.I), f"{path.name}: no '{heading}' section"
    for profile in ("smoke", "cpu", "gpu"):
        assert profile in md, f"{path.name}: expected runtime for the {profile} profile"
    assert cells[3].cell_type == "code" and "setup(" in cells[3].source, "setup cell fourth"
    assert re.search(r"^\s*assert |checks\.claim\(", code, flags=re.M), "at least one check"
    assert "ipywidgets" in code or "interact" in code, f"{path.name}: at least one widget"
    for banned in ("pretrained=True", "register_backward_hook(", ".next()", "MPLBACKEND"):
        assert banned not in code, f"{path.name} uses {banned}"
    for m in re.finditer(r"torch\.load\(([^)]*)\)", code):
        assert "weights_only=True" in m.group(1), f"{path.name}: torch.load without weights_only=True"


def _pins(lines):
    return sorted(l.strip().lstrip("- ").strip() for l in lines
                  if re.match(r"^\s*-?\s*[A-Za-z0-9_.\-]+==", l))


def test_requirements_and_environment_agree():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env_lines = (ROOT / "environment.yml").read_text().split("- pip:")[1].splitlines()
    env = _pins(env_lines)
    assert req and req == env, f"requirements.txt {req} != environment.yml {env}"
    assert "torch==2.14.1" in req and "torchvision==0.29.1" in req


def test_sync_tool_is_clean():
    assert sync_notebooks.main(["--check"]) == 0, "run: python tools/sync_notebooks.py"


def test_no_machine_paths_in_repo():
    pattern = re.compile(r"/(work|home|Users|root)/[A-Za-z]")
    for path in list(ROOT.glob("helpers/*.py")) + NOTEBOOKS + [ROOT / "README.md"]:
        if path.exists():
            assert not pattern.search(path.read_text()), f"machine path in {path.name}"


def helper_imports() -> dict[str, set[str]]:
    """module -> the helper modules it imports (at the top or inside a function); the modules
    of the ``plumbing`` sub-package are named ``plumbing.<name>``."""
    import ast

    graph = {}
    for path in sorted((ROOT / "helpers").glob("**/*.py")):
        inside = path.parent.name == "plumbing"
        me = ("plumbing." if inside else "") + path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = "plumbing." if inside and node.level == 1 else ""
            if node.module:
                mod = base + node.module
                deps |= {f"{mod}.{a.name}" for a in node.names} if mod == "plumbing" else {mod}
            else:
                deps |= {base + a.name for a in node.names}
        graph[me] = deps - {me}
    return graph


#: one module group per lecture; a lesson module imports only its own group, the shared kit
#: and the plumbing sub-package, never another lecture's module
LESSONS = {"01": {"conv"}, "02": {"models", "train", "cifar_model"}, "03": {"interpret", "synthesis"},
           "04": {"attacks"}, "05": {"autoencoders"}, "06": {"linalg"}, "07": {"features"}}
KIT = {"__init__", "runtime", "data", "photos", "pretrained", "plots", "checks"}


def test_package_layout_lessons_kit_plumbing():
    graph = helper_imports()
    lesson_of = {m: n for n, ms in LESSONS.items() for m in ms}
    plumbing = {m for m in graph if m.startswith("plumbing.")}
    assert set(graph) == set(lesson_of) | KIT | plumbing, (
        f"every helper module is a lesson module, part of the kit or plumbing: "
        f"{sorted(set(graph) - set(lesson_of) - KIT - plumbing)}")
    for m, deps in graph.items():
        if m in lesson_of:
            others = {d for d in deps if d in lesson_of and lesson_of[d] != lesson_of[m]}
            assert not others, f"lesson module {m} ({lesson_of[m]}) imports another lecture's: {others}"
        elif m in KIT:
            assert not deps & set(lesson_of), f"kit module {m} imports lesson modules {deps & set(lesson_of)}"
        else:
            lessons = {d for d in deps if d in lesson_of}
            assert not lessons or m == "plumbing.prefetch", f"plumbing {m} imports lesson modules {lessons}"


def test_helper_modules_import_no_circle():
    """Each concern in one place: a module never needs, directly or indirectly, a module that
    needs it (what both sides need moves down a level)."""
    graph = helper_imports()
    assert graph["plumbing.validate"] == set() and "runtime" in graph["data"]

    def reach(start):
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen and m in graph:
                seen.add(m)
                todo += graph[m]
        return seen

    circles = [m for m in graph if m != "__init__" and m in reach(m)]
    assert not circles, f"import circles through: {circles}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_present(path):
    """Without one, JupyterLab opens the notebook with a "Select Kernel" dialog."""
    assert load(path).metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: no python3 kernelspec: run tools/sync_notebooks.py")


RUNTIME_TOLERANCE = 0.25    # a stated runtime within 25% of the measured one


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_runtimes_are_the_measured_ones(path):
    """Each header states its smoke and cpu runtimes through markers that tools/sync_notebooks.py
    fills from notebooks/runtimes.json (measured by tools/run_notebooks.py --record). A cpu
    runtime must be recorded; a smoke one is checked once recorded (until then the header
    states the test suite's budget)."""
    measured = sync_notebooks.load_runtimes()
    header = "\n".join(c.source for c in load(path).cells[:2] if c.cell_type == "markdown")
    stated = {m.group(2): m.group(3) for m in sync_notebooks.RUNTIME_RE.finditer(header)}
    for profile in ("smoke", "cpu"):
        assert profile in stated, (f"{path.name}: the header states no {profile} runtime: write "
                                   f"<!-- runtime:{profile} --><!-- /runtime --> where it belongs")
        entry = measured.get(profile, {}).get(path.stem)
        if profile == "smoke" and entry is None:
            continue        # the test suite's budget (90 s) until a quiet smoke run is recorded
        if entry is None:
            pytest.skip(f"{path.name}: no measured {profile} runtime in notebooks/runtimes.json yet, "
                        f"so its header still states an estimate: record one with "
                        f"tools/run_notebooks.py --profile {profile} --record {path.name[:2]}")
        seconds = sync_notebooks.parse_seconds(stated[profile])
        assert seconds is not None and abs(seconds - entry["seconds"]) <= RUNTIME_TOLERANCE * entry["seconds"], (
            f"{path.name}: header says {stated[profile]!r} for {profile}, measured {entry['seconds']} s: "
            f"run tools/sync_notebooks.py")


def test_readme_runtimes_are_the_measured_ones():
    measured = sync_notebooks.load_runtimes()
    rows = sync_notebooks.readme_row_runtimes((ROOT / "README.md").read_text())
    assert {stem for stem, _ in rows} == {p.stem for p in NOTEBOOKS}, "README table: one row per notebook"
    unmeasured = []
    for (stem, profile), text in rows.items():
        entry = measured.get(profile, {}).get(stem)
        if entry is None:
            unmeasured += [] if profile == "smoke" else [stem]
            continue        # smoke: the budget; cpu: an estimate until recorded (reported below)
        seconds = sync_notebooks.parse_seconds(text)
        assert seconds is not None and abs(seconds - entry["seconds"]) <= RUNTIME_TOLERANCE * entry["seconds"], (
            f"README: {stem} {profile} says {text!r}, measured {entry['seconds']} s: run tools/sync_notebooks.py")
    if unmeasured:
        pytest.skip(f"README: no measured cpu runtime of {', '.join(unmeasured)} yet (estimates shown): "
                    f"tools/run_notebooks.py --profile cpu --record")


def test_runtime_formatting_round_trips():
    for seconds in (4.0, 16.4, 89.0, 95.0, 252.0, 900.0):
        text = sync_notebooks.format_seconds(seconds)
        assert abs(sync_notebooks.parse_seconds(text) - seconds) <= 0.05 * seconds, text
    assert sync_notebooks.parse_seconds("about 5 minutes") is None
