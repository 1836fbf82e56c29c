"""A trained CIFAR-10 network for the demos that need a trained model, offline included.

Introduced in notebook 03; used by 04 and 07. Where torchvision's ImageNet weights cannot be
had, a randomly initialised ResNet18 shows only noise. :func:`load_or_train` gives a
network that has really learned: notebook 02's model when its checkpoint was trained on the
CIFAR-10 source present now with the current recipe, else one trained right here by the same
recipe (:data:`helpers.models.RECIPES`, with a progress bar) and cached for the next notebook.
It takes ``x: (N, 3, 32, 32) float in [0, 1]`` and is labelled: ``model.source`` is
``"cifar10-recipe"``, ``model.classes`` the CIFAR-10 class names, ``model.data_source`` the
CIFAR-10 source it was trained on (``"synthetic"`` for the stand-in: then claims about real
images stay SKIPPED).
"""
from __future__ import annotations

import time

import torch

from . import data, models, runtime, train
from .plumbing import validate


def load_or_train(profile: str | None = None, device=None, verbose: bool = True):
    """``(model, info)``: notebook 02's CIFAR-10 model, or one trained now by its recipe.

    ``info`` holds ``test_acc`` (on up to 2,000 test images), ``data_source`` and ``trained_here``.
    """
    profile = validate.choice(profile or runtime.get_profile(), models.RECIPES, "profile")
    device = torch.device(device or runtime.current().device)
    test = data.cifar10("test", n=2_000, seed=1, verbose=False)
    cached = models.cached_cifar_model(profile, source=test.source)
    trained_here = cached is None
    if cached is not None:
        model, info = cached
    else:
        model, info = _train_by_recipe(profile, device, verbose)
    model = model.to(device).eval()
    model.source, model.arch = "cifar10-recipe", "cifar_net"
    model.classes, model.data_source = list(data.CIFAR10_CLASSES), test.source
    acc = train.evaluate(model, test)["acc"]
    info = {**info, "test_acc": acc, "data_source": test.source, "trained_here": trained_here}
    kind = "trained on the SYNTHETIC stand-in" if test.source == "synthetic" else \
        "trained on real CIFAR-10 images"
    runtime.record_source("CIFAR-10 model", f"project recipe ({profile}), {kind}")
    if verbose:
        how = "trained just now" if trained_here else "notebook 02's checkpoint"
        print(f"[model] CIFAR-10 network of the project's {profile} recipe ({how}), {kind}: "
              f"test accuracy {acc:.1%} on {len(test):,} test images")
    return model, info


def _train_by_recipe(profile: str, device, verbose: bool):
    recipe = models.recipe(profile)
    full = data.cifar10("train", n=recipe["n_train"], verbose=verbose)
    if verbose:
        print(f"[model] no CIFAR-10 model of the {profile} recipe for this data yet: training "
              f"one ({recipe['epochs']} epochs on {len(full):,} images)")
    torch.manual_seed(0)
    model = models.cifar_net(width=recipe["width"], dropout=recipe["dropout"],
                             head_scale=recipe["head_scale"])
    t0 = time.perf_counter()
    train.fit(model, full, epochs=recipe["epochs"], batch_size=recipe["batch_size"],
              lr=recipe["lr"], optimizer=recipe["optimizer"], warmup=recipe["warmup"],
              weight_decay=recipe["weight_decay"], label_smoothing=recipe["label_smoothing"],
              device=device, desc="CIFAR-10 model (recipe)")
    seconds = time.perf_counter() - t0
    model = model.cpu().eval()
    info = dict(profile=profile, data_source=full.source, n_train=len(full), recipe=recipe,
                train_seconds=seconds, written_by="helpers.cifar_model")
    models.save_checkpoint(models.cifar_checkpoint_path(profile), model,
                           made_from=models.cifar_record(full.source, recipe), **info)
    return model, info
