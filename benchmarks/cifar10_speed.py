"""Training speed of notebook 02's default CIFAR-10 model, on synthetic CIFAR-shaped tensors.

Runs the real training path (``helpers.train.fit``: data on the device, batched crop + flip,
SGD + Nesterov, one-cycle schedule, mixed precision and channels_last on CUDA) and prints
images/s, seconds per epoch and peak memory, on the CPU and, when present, on the GPU.
No dataset is needed: the images are random, so the accuracy means nothing here.

    python benchmarks/cifar10_speed.py                     # CPU (short) + CUDA if present
    python benchmarks/cifar10_speed.py --device cuda --n 50000 --epochs 3
    python benchmarks/cifar10_speed.py --device cpu --width 16 --cpu-n 2048 --batch-size 128

The first epoch is a warm-up (memory allocation, cuDNN autotuning) and is reported apart.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers import models, runtime, train  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if platform.system() == "Darwin" else rss / 2**10


def bench(device: str, n: int, epochs: int, width: int, batch_size: int, amp: str) -> dict:
    device = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 32, 32, generator=g)                    # (N, 3, 32, 32) in [0, 1]
    y = torch.randint(0, 10, (n,), generator=g)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    model = models.cifar_net(width=width)
    r = models.recipe("gpu")
    hist = train.fit(model, (x.to(device), y.to(device)), epochs=epochs, batch_size=batch_size,
                     lr=r["lr"], weight_decay=r["weight_decay"],
                     label_smoothing=r["label_smoothing"], device=device, amp=amp,
                     desc=f"{device.type} w={width}")
    timed = hist["seconds"][1:] or hist["seconds"]
    rate = hist["images_per_s"][1:] or hist["images_per_s"]
    out = dict(device=runtime.device_name(device), width=width, params=models.count_parameters(model),
               images=n, batch=batch_size, amp=str(train.amp_dtype(device, amp)),
               warmup_s=hist["seconds"][0], s_per_epoch=sum(timed) / len(timed),
               images_per_s=sum(rate) / len(rate))
    out["s_per_50k_epoch"] = 50_000 / out["images_per_s"]
    if device.type == "cuda":
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["mem_kind"] = "CUDA max allocated"
    else:
        out["peak_mem_mb"] = peak_rss_mb()
        out["mem_kind"] = "process peak RSS"
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: the CPU, then CUDA when present")
    p.add_argument("--width", type=int, default=models.recipe("gpu")["width"])
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: 512 on CUDA (the recipe), 128 on the CPU")
    p.add_argument("--n", type=int, default=50_000, help="images per epoch on CUDA")
    p.add_argument("--cpu-n", type=int, default=384, help="images per epoch on the CPU")
    p.add_argument("--epochs", type=int, default=2, help="including one warm-up epoch")
    p.add_argument("--amp", default="auto", help="auto | bf16 | fp16 | off (CUDA only)")
    args = p.parse_args(argv)
    amp = False if args.amp == "off" else args.amp
    if args.amp == "fp16":
        amp = "fp16"
    devices = ["cpu", "cuda"] if args.device == "auto" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            p.error("--device cuda but no CUDA GPU is visible")
        devices.remove("cuda")
    print(f"torch {torch.__version__}, {runtime.cpu_count()} CPU cores, "
          f"{torch.get_num_threads()} intra-op threads")
    for dev in devices:
        n = args.cpu_n if dev == "cpu" else args.n
        bs = args.batch_size or (128 if dev == "cpu" else 512)
        r = bench(dev, n, max(1, args.epochs), args.width, bs, amp)
        print(f"\n{r['device']}: width {r['width']} ({r['params']:,} parameters), batch {r['batch']}, "
              f"{r['images']:,} images/epoch, autocast {r['amp']}")
        print(f"  {r['images_per_s']:,.0f} images/s   {r['s_per_epoch']:.2f} s/epoch   "
              f"(a 50,000-image epoch: {r['s_per_50k_epoch']:.1f} s; warm-up epoch {r['warmup_s']:.2f} s)")
        print(f"  peak memory {r['peak_mem_mb']:,.0f} MB ({r['mem_kind']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
