"""Accuracy and wall time of notebook 02's training recipe per profile on the CIFAR-10 present.

    python benchmarks/cifar10_recipe.py [smoke|cpu|gpu ...] [--seconds S] [--set key=value ...]

Trains ``helpers.models.RECIPES[profile]`` exactly as notebook 02's main run does (same data
split, no early stopping) and prints the test accuracy on the full test set (10,000 images),
the training time and the hardware. ``--seconds S`` stops training after S seconds of wall
time (the rest of the schedule is skipped) to compare recipes at equal time, e.g. the gpu
recipe on a CPU; ``--set epochs=8 n_train=47500`` tries a variant of the recipe. Says which data it ran on: numbers on the stand-in mean nothing.
"""
from __future__ import annotations

import argparse
import time

import torch

from helpers import data, models, runtime, train


class _OutOfTime(Exception):
    pass


def run(profile: str, seconds: float | None, changes: dict | None = None) -> dict:
    rt = runtime.setup(seed=0, quiet=True)
    recipe = {**models.recipe(profile), **(changes or {})}
    full = data.cifar10("train", n=recipe["n_train"] + 2_500, verbose=False)
    test = data.cifar10("test", verbose=False)
    xtr, ytr = full.subset(range(2_500, len(full))).tensors(rt.device)
    torch.manual_seed(0)
    model = models.cifar_net(width=recipe["width"], dropout=recipe["dropout"],
                             head_scale=recipe["head_scale"])
    t0 = time.perf_counter()

    def deadline(m, xb, yb):
        if seconds is not None and time.perf_counter() - t0 > seconds:
            raise _OutOfTime
        return xb

    try:
        train.fit(model, (xtr, ytr), epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                  lr=recipe["lr"], optimizer=recipe["optimizer"], warmup=recipe["warmup"],
                  weight_decay=recipe["weight_decay"], label_smoothing=recipe["label_smoothing"],
                  step_hook=deadline, desc=f"{profile} recipe")
        stopped = False
    except _OutOfTime:
        stopped = True
    train_s = time.perf_counter() - t0
    acc = train.evaluate(model, test, tta=recipe["tta"])["acc"]
    return dict(profile=profile, acc=acc, train_s=train_s, stopped=stopped, n_train=len(xtr),
                source=test.source, device=runtime.device_name(rt.device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="*", default=["smoke", "cpu"])
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    changes = {k: type(models.RECIPES["cpu"][k])(v) if not isinstance(models.RECIPES["cpu"][k], bool)
               else v == "True" for k, v in (kv.split("=", 1) for kv in args.set)}
    for profile in args.profiles:
        r = run(profile, args.seconds, changes)
        print(f"{r['profile']:5s} recipe{' with ' + str(changes) if changes else ''}: test accuracy {r['acc']:.2%} on {r['source']} CIFAR-10 "
              f"(10,000 test images), {r['n_train']:,} train images, training {r['train_s']:.0f} s"
              f"{' (stopped at the time limit)' if r['stopped'] else ''}, on {r['device']}",
              flush=True)


if __name__ == "__main__":
    main()
