"""Labelled synthetic stand-ins for CIFAR-10 and Fashion-MNIST (used only when offline).

They have the real datasets' shapes, dtypes and class names, are deterministic by seed, are
generated in well under a second per 10,000 images, and carry learnable class structure so a
small CNN beats chance clearly. They are *not* the real data and every loader that returns one
says so loudly (``ds.source == "synthetic"``). Introduced in notebook 01's setup notes;
used by notebooks 02-07 when offline.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# ten well-separated foreground colours (RGB in [0, 1])
_PALETTE = torch.tensor([
    [0.90, 0.20, 0.20], [0.20, 0.70, 0.25], [0.20, 0.35, 0.90], [0.95, 0.80, 0.15],
    [0.70, 0.25, 0.80], [0.15, 0.80, 0.80], [0.95, 0.55, 0.15], [0.55, 0.35, 0.20],
    [0.85, 0.85, 0.85], [0.30, 0.30, 0.30],
])


def _balanced_labels(n: int, g: torch.Generator, num_classes: int = 10) -> torch.Tensor:
    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=g)]


def synthetic_cifar10(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` CIFAR-shaped images: ``(n, 3, 32, 32) uint8`` and ``(n,) int64`` labels.

    Class c = an object blob whose colour, stripe orientation and stripe frequency depend on
    c, on a random background, at a random position, plus pixel noise. Colour jitter makes
    neighbouring classes overlap, so accuracy is high but not perfect.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    g = torch.Generator().manual_seed(10_000 + seed)
    y = _balanced_labels(n, g)
    coords = torch.linspace(-1, 1, 32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")           # (32, 32)
    yy, xx = yy[None], xx[None]                                       # (1, 32, 32)

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    theta = y * (math.pi / 10) + 0.15 * torch.randn(n, generator=g)
    freq = 2.0 + (y % 4) * 1.2
    phase = 2 * math.pi * rand(n)
    stripes = torch.cos(math.pi * freq[:, None, None]
                        * (xx * torch.cos(theta)[:, None, None] + yy * torch.sin(theta)[:, None, None])
                        + phase[:, None, None])                         # (n, 32, 32)
    cx, cy = rand(n) - 0.5, rand(n) - 0.5
    rx = 0.35 + 0.25 * rand(n) + 0.15 * (y % 2)
    ry = 0.35 + 0.25 * rand(n) + 0.15 * ((y // 2) % 2)
    blob = torch.exp(-(((xx - cx[:, None, None]) / rx[:, None, None]) ** 2
                       + ((yy - cy[:, None, None]) / ry[:, None, None]) ** 2) ** 2)  # (n,32,32)
    fg = (_PALETTE[y] + 0.18 * torch.randn(n, 3, generator=g)).clamp(0, 1)   # (n, 3)
    bg = rand(n, 3) * 0.8 + 0.1
    texture = 0.65 + 0.35 * stripes[:, None]                                 # (n,1,32,32)
    img = bg[:, :, None, None] * (1 - blob[:, None]) + fg[:, :, None, None] * texture * blob[:, None]
    img = img + 0.08 * torch.randn(n, 3, 32, 32, generator=g)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), y


def _fashion_templates() -> torch.Tensor:
    """Ten 28x28 silhouettes, one per Fashion-MNIST class (rough, but garment-shaped)."""
    t = torch.zeros(10, 28, 28)

    def box(c, r0, r1, c0, c1, v=1.0):
        t[c, r0:r1, c0:c1] = v

    box(0, 6, 25, 8, 20); box(0, 6, 11, 3, 25)                              # T-shirt
    box(1, 3, 7, 8, 20); box(1, 3, 26, 8, 13); box(1, 3, 26, 15, 20)       # trouser
    box(2, 5, 24, 8, 20); box(2, 5, 22, 3, 8); box(2, 5, 22, 20, 25)       # pullover
    for r in range(3, 26):                                                 # dress
        half = 4 + (r - 3) * 9 // 23
        box(3, r, r + 1, 14 - half, 14 + half)
    box(4, 4, 26, 7, 21); box(4, 4, 24, 2, 7); box(4, 4, 24, 21, 26)       # coat
    box(4, 4, 26, 13, 15, 0.35)
    box(5, 19, 22, 2, 26)                                                  # sandal
    for c0 in range(4, 24, 5):
        box(5, 12, 19, c0, c0 + 2)
    box(6, 5, 24, 8, 20, 0.8); box(6, 5, 22, 3, 8, 0.8); box(6, 5, 22, 20, 25, 0.8)  # shirt
    box(6, 4, 7, 11, 17, 1.0)
    for r in range(8, 23, 3):
        box(6, r, r + 1, 13, 15, 0.3)
    box(7, 15, 22, 2, 26); box(7, 11, 16, 13, 26)                          # sneaker
    box(8, 9, 25, 4, 24); box(8, 3, 5, 9, 19); box(8, 3, 9, 8, 10); box(8, 3, 9, 18, 20)  # bag
    box(9, 4, 24, 13, 23); box(9, 16, 24, 3, 24)                           # ankle boot
    return t


def synthetic_fashion_mnist(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` Fashion-MNIST-shaped images: ``(n, 1, 28, 28) uint8`` and ``(n,) int64`` labels.

    Each class is a garment silhouette, randomly shifted (up to 2 px), scaled in brightness,
    textured and softened, so it has the low-dimensional structure autoencoders and PCA find.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    g = torch.Generator().manual_seed(20_000 + seed)
    y = _balanced_labels(n, g)
    base = _fashion_templates()[y]                                         # (n, 28, 28)
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    out = torch.empty_like(base)
    for dy in range(-2, 3):                  # 25 shift groups, vectorised within each
        for dx in range(-2, 3):
            sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            if sel.any():
                out[sel] = torch.roll(base[sel], shifts=(dy, dx), dims=(1, 2))
    bright = 0.55 + 0.45 * torch.rand(n, 1, 1, generator=g)
    texture = 1 + 0.15 * torch.randn(n, 28, 28, generator=g)
    img = (out * bright * texture)[:, None]                                # (n, 1, 28, 28)
    kernel = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
    img = F.conv2d(img, kernel[None, None], padding=1)
    img = img + 0.03 * torch.randn(n, 1, 28, 28, generator=g)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), y
