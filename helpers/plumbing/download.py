"""Network plumbing for datasets and weights: a bounded reachability probe and downloads that
land only when complete.

Used by :mod:`helpers.data` (torchvision's CIFAR-10 and Fashion-MNIST) and
:mod:`helpers.pretrained` (ImageNet weights) from notebook 01's setup on. Offline, nothing here
waits longer than :data:`PROBE_TIMEOUT_S`; ``NB_OFFLINE=1`` never touches the network.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

from .. import runtime
from . import validate

PROBE_TIMEOUT_S = 3.0      # how long we wait to learn whether a host answers
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation once a download is under way

_REACHABLE: dict[str, bool] = {}


def host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if the URL's host accepts a TCP connection within ``timeout`` seconds.

    Runs in a thread so that a slow DNS lookup cannot block longer than the timeout.
    ``NB_OFFLINE=1`` answers False without trying. Results are cached per host.
    """
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or not parsed.hostname:
        raise ValueError(f"expected url: an address with a host, like https://example.org/file, "
                         f"got {url!r}")
    validate.number(timeout, "timeout", minimum=0, strict_minimum=True, meaning="seconds")
    if runtime.offline_forced():
        return False
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    if host in _REACHABLE:
        return _REACHABLE[host]
    result = [False]

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result[0] = True
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    _REACHABLE[host] = result[0]
    return result[0]


class socket_timeout:
    """Context manager bounding every socket operation of a download to ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds = validate.number(seconds, "seconds", minimum=0, strict_minimum=True,
                                       meaning="per socket operation")

    def __enter__(self):
        self.old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.seconds)

    def __exit__(self, *exc):
        socket.setdefaulttimeout(self.old)


def download_into_place(fetch, produced: str, dest_root: Path) -> Path:
    """Run ``fetch(tmp_root)`` in a temporary folder, then move ``tmp_root/produced`` to
    ``dest_root/produced``. ``fetch`` must verify what it downloads (torchvision does md5).
    A failure leaves nothing behind in ``dest_root``."""
    if not callable(fetch):
        raise TypeError(f"expected fetch: a function fetch(tmp_root) that downloads into "
                        f"tmp_root, got {type(fetch).__name__}")
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest_root))
    try:
        with socket_timeout(DOWNLOAD_TIMEOUT_S):
            fetch(tmp)
        target = dest_root / produced
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp / produced, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
