"""How long the offline paths take: stand-in generation and the fallback of every loader.

    python benchmarks/data_speed.py

Target (issue: foundation): offline, every helper that would download returns its labelled
stand-in within 5 seconds. The network probe is bounded by helpers.plumbing.download.PROBE_TIMEOUT_S.
"""
import os
import platform
import tempfile
import time

os.environ.setdefault("NB_DATA_DIR", tempfile.mkdtemp(prefix="nb-bench-"))

from helpers import data, pretrained, runtime  # noqa: E402
from helpers.plumbing import standins  # noqa: E402


def timed(label, fn):
    t0 = time.perf_counter()
    fn()
    print(f"{label:<48} {time.perf_counter() - t0:6.2f} s")


print(f"{platform.processor() or platform.machine()}, {runtime.cpu_count()} cores, "
      f"NB_OFFLINE={os.environ.get('NB_OFFLINE', '')!r}")
timed("synthetic CIFAR-10, 10,000 images", lambda: standins.synthetic_cifar10(10_000))
timed("synthetic Fashion-MNIST, 10,000 images", lambda: standins.synthetic_fashion_mnist(10_000))
timed("data.cifar10('test') offline fallback (10,000)", lambda: data.cifar10("test", verbose=False))
timed("data.fashion_mnist('test') offline fallback", lambda: data.fashion_mnist("test", verbose=False))
timed("pretrained.resnet18() offline fallback", lambda: pretrained.resnet18(verbose=False))
