"""How long PGD-10 takes on ResNet18: a batch of 32 images at 224x224 (notebook 04's target:
under 2 s on a GPU).

    python benchmarks/attack_speed.py            # CPU, and CUDA when present
    python benchmarks/attack_speed.py --small    # a quick CPU run: 8 images at 112x112
    python benchmarks/attack_speed.py --json out.json

Random-init weights are used on purpose: the time of a forward/backward pass does not depend
on the weights' values, and no download is needed. On CUDA the float32 run and a float16
autocast run (``amp=True``) are both timed, after a warm-up, with ``torch.cuda.synchronize``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers import attacks, pretrained  # noqa: E402


def time_pgd(model, x, y, steps: int, amp: bool, repeats: int) -> float:
    def sync():
        if x.device.type == "cuda":
            torch.cuda.synchronize()

    attacks.pgd(model, x, y, 4 / 255, steps=1, amp=amp)       # warm-up (cudnn autotune, caches)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        attacks.pgd(model, x, y, 4 / 255, steps=steps, amp=amp)
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="CPU: 8 images at 112x112 instead of 32 at 224")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU run")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--arch", default="resnet18",
                    help="resnet18 (offline: the EfficientNet-Lite0 that stands in) or efficientnet_lite0")
    args = ap.parse_args(argv)

    model = pretrained.imagenet_model(args.arch, download=False, verbose=False)
    results = []
    runs = []
    if not args.no_cpu:
        n, res = (8, 112) if args.small else (32, 224)
        runs.append(("cpu", n, res, False))
    if torch.cuda.is_available():
        runs += [("cuda", 32, 224, False), ("cuda", 32, 224, True)]
        torch.backends.cudnn.benchmark = True
    for device, n, res, amp in runs:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, 3, res, res, generator=g).to(device)
        y = torch.randint(0, 1000, (n,), generator=g).to(device)
        model.to(device)
        repeats = 1 if device == "cpu" else args.repeats
        s = time_pgd(model, x, y, args.steps, amp, repeats)
        name = torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
        row = dict(model=model.name, device=name, images=n, size=res, steps=args.steps, amp=amp, seconds=round(s, 3),
                   images_per_s=round(n / s, 1))
        results.append(row)
        print(f"PGD-{args.steps} {model.name} {n}x3x{res}x{res} on {name}"
              f"{' (fp16 autocast)' if amp else ''}: {s:.2f} s"
              + ("   target < 2 s: " + ("met" if s < 2 else "NOT met") if device == "cuda" else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
