"""plots.explore: one figure in a static view, a working widget live."""
import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

from helpers import plots  # noqa: E402


def test_explore_draws_once_when_headless(monkeypatch):
    monkeypatch.setenv("NB_HEADLESS", "1")
    monkeypatch.delenv("NB_STATIC_WIDGETS", raising=False)
    calls = []
    out = plots.explore(lambda k, kind: calls.append((k, kind)), {"k": 7, "kind": "box"},
                        k=widgets.IntSlider(min=1, max=9), kind=["gaussian", "box"])
    assert out is None and calls == [(7, "box")]


def test_explore_live_widget_starts_at_the_static_values(monkeypatch):
    monkeypatch.delenv("NB_HEADLESS", raising=False)
    monkeypatch.delenv("NB_STATIC_WIDGETS", raising=False)
    calls = []
    w = plots.explore(lambda k, kind: calls.append((k, kind)), {"k": 5, "kind": "box"},
                      k=widgets.IntSlider(value=1, min=1, max=9), kind=["gaussian", "box"])
    assert w is not None
    controls = {c.description: c for c in w.widget.children if hasattr(c, "value") and c.description}
    assert controls["k"].value == 5 and controls["kind"].value == "box"
    assert calls[-1] == (5, "box")                 # the first live figure is the static one
    controls["k"].value = 3
    assert calls[-1] == (3, "box")                 # moving a slider redraws


def test_explore_is_live_in_a_browser_test_even_when_unattended(monkeypatch):
    monkeypatch.setenv("NB_HEADLESS", "1")
    monkeypatch.setenv("NB_STATIC_WIDGETS", "0")          # tests/test_browser.py's JupyterLab server
    w = plots.explore(lambda k: None, {"k": 2}, k=widgets.IntSlider(min=1, max=9))
    assert w is not None
