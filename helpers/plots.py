"""Figures shared by the notebooks: image grids (de-normalized), training curves, bars.

Introduced in notebook 01; every notebook uses :func:`show_images`. Sizes are chosen to read
well on a projector (large titles, few images per row).
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .plumbing import validate

plt.rcParams.update({"figure.dpi": 100, "axes.titlesize": 11, "axes.labelsize": 11,
                     "font.size": 11, "legend.fontsize": 10})


def to_numpy_image(img, mean=None, std=None) -> np.ndarray:
    """One image -> ``(H, W, 3)`` or ``(H, W)`` NumPy array in [0, 1] for ``imshow``.

    Accepts ``(C, H, W)`` tensors/arrays (C = 1 or 3) or ``(H, W[, 3])`` arrays. If ``mean``
    and ``std`` are given the image is de-normalized first: ``x * std + mean``.
    """
    if isinstance(img, torch.Tensor):
        img = img.detach().float().cpu().numpy()
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[2] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if mean is not None and std is not None:
        img = img * np.asarray(std).reshape(1, 1, -1) + np.asarray(mean).reshape(1, 1, -1)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3):
        raise ValueError(f"expected img: one image (C, H, W) with C = 1 or 3, or (H, W[, 3]), got "
                         f"shape {img.shape}" + (": pass one image, images[i], or show a batch with "
                                                 "show_images" if img.ndim == 4 else ""))
    return np.clip(img, 0, 1)


def show_images(images, titles=None, ncols: int = 8, size: float = 1.6, mean=None, std=None,
                cmap="gray", suptitle: str | None = None, title_colors=None,
                title_size: float = 9):
    """A grid of images. images: ``(N, C, H, W)`` tensor/array, or a list of images.

    Pixels are expected in [0, 1] (pass ``mean``/``std`` for normalized tensors).
    ``title_size``: points of the panel titles (a grid wider than 1000 px is shrunk on screen:
    keep ``title_size >= 0.8 * size * ncols`` for 11 px text there). Returns the figure.
    """
    title_size = validate.number(title_size, "title_size", minimum=1, meaning="title font size in points")
    if isinstance(images, (torch.Tensor, np.ndarray)) and np.ndim(images) == 4:
        images = list(images)
    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("expected images: an (N, C, H, W) batch or a list of images with N >= 1, "
                         "got none")
    ncols = validate.integer(ncols, "ncols", meaning="images per row")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(to_numpy_image(images[i], mean, std), cmap=cmap, vmin=0, vmax=1)
        if titles is not None:
            color = title_colors[i] if title_colors is not None else "black"
            ax.set_title(str(titles[i]), fontsize=title_size, color=color)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(history: dict, keys=None, title: str | None = None, logy: bool = False):
    """Training curves from a dict of lists, e.g. ``{"train_loss": [...], "val_loss": [...]}``.

    Keys sharing a suffix (``loss``, ``acc``) share a panel. Returns the figure.
    """
    if not isinstance(history, dict):
        raise TypeError(f"expected history: a dict of lists such as fit() returns, got "
                        f"{type(history).__name__}")
    wanted = list(keys or history)
    keys = [k for k in wanted if isinstance(history.get(k), (list, tuple)) and history[k]]
    if not keys:
        raise ValueError(f"expected history: at least one non-empty list among the keys "
                         f"{wanted}, got none to plot")
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k.split("_")[-1], []).append(k)
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.4), squeeze=False)
    for ax, (metric, ks) in zip(axes.flat, groups.items()):
        for k in ks:
            ax.plot(range(1, len(history[k]) + 1), history[k], marker="o", ms=3,
                    label=k.rsplit("_", 1)[0] if "_" in k else k)     # "val_loss" -> "val"
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bar_table(labels, values, ylabel: str = "", title: str | None = None, fmt: str = "{:.3g}"):
    """A bar chart with the value printed on each bar (a 'table' that reads on a projector)."""
    labels, values = list(labels), list(values)
    if len(values) != len(labels):
        raise ValueError(f"expected values: one per label ({len(labels)}), got {len(values)}")
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(labels) + 2), 3.4))
    bars = ax.bar([str(s) for s in labels], values, color="tab:blue")
    for b, v in zip(bars, values):
        ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=11)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)                                   # room for the value printed on the tallest bar
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def say(markdown: str) -> None:
    """Show a sentence built from this run's numbers as formatted text (Markdown in a notebook),
    so that prose quoting a measurement always quotes the measurement under it."""
    try:
        from IPython.display import display
    except ImportError:                      # pragma: no cover - IPython ships with Jupyter
        print(markdown)
        return
    # the plain-text copy is what text-only views (nbval, exports, a terminal) show
    display({"text/markdown": markdown, "text/plain": markdown}, raw=True)


def explore(draw, static: dict, **controls):
    """One figure with sliders in a live notebook, the same figure drawn once everywhere else.

    Live (JupyterLab, Colab): ``ipywidgets.interact(draw, **controls)``, each control starting at
    its value in ``static``, so the first figure is the one a static view shows. In an unattended
    run (``NB_HEADLESS=1``: the runner, the tests; see :func:`helpers.runtime.static_widgets`),
    where nobody can move a slider and a widget leaves only its text behind: ``draw(**static)``
    once. Returns the widget, or None.
    """
    from .runtime import static_widgets

    if not isinstance(static, dict) or set(static) != set(controls):
        raise ValueError(f"expected static: a dict with one value per control {sorted(controls)}, "
                         f"got {static!r}")
    if static_widgets():
        draw(**static)
        return None
    import ipywidgets as widgets

    made = {}
    for name, control in controls.items():
        if isinstance(control, (list, tuple)):               # a plain list of choices: a drop-down
            control = widgets.Dropdown(options=list(control), description=name)
        control.value = static[name]
        made[name] = control
    return widgets.interact(draw, **made)
