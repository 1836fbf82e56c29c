"""Nothing lost on a crash: a training run killed while it writes its checkpoint resumes
from the last complete one (the kill is real: a subprocess that SIGKILLs itself mid-write)."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from helpers import train

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent('''
    import os, signal, sys
    import torch
    from helpers import models, train

    path, kill_at = sys.argv[1], int(sys.argv[2])
    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):
        """Write the checkpoint of epoch ``kill_at`` only half, then die like a killed kernel."""
        real_save(obj, f, *args, **kwargs)
        if isinstance(obj, dict) and obj.get("epoch") == kill_at:
            with open(f, "r+b") as fh:
                fh.truncate(os.path.getsize(f) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    torch.save = dying_save
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 2
    x = (0.25 + 0.5 * y[:, None, None, None] + 0.1 * torch.randn(48, 3, 32, 32, generator=g)).clamp(0, 1)
    torch.save(dict(x=x, y=y), path + ".data")   # the parent trains on exactly these
    torch.manual_seed(0)
    net = models.cifar_net(width=2, num_classes=2)
    train.fit(net, (x, y), epochs=4, batch_size=16, lr=0.05, device="cpu", progress=False,
              checkpoint=path, resume=True, made_from=dict(dataset="toy", source="synthetic"))
    print("not killed")
''')


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_run_killed_mid_checkpoint_resumes_from_the_last_good_one(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NB_DATA_DIR": str(tmp_path)}
    child = subprocess.run([sys.executable, str(script), str(ckpt), "3"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert "not killed" not in child.stdout
    left = list(tmp_path.glob(".run.pt.*.tmp"))
    assert len(left) == 1 and left[0].stat().st_size > 0      # the half-written epoch 3
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 2 and not saved["done"]           # the rename never happened

    data = torch.load(str(ckpt) + ".data", weights_only=True)
    torch.manual_seed(0)
    from helpers import models
    net = models.cifar_net(width=2, num_classes=2)
    hist = train.fit(net, (data["x"], data["y"]), epochs=4, batch_size=16, lr=0.05, device="cpu",
                     progress=False, checkpoint=ckpt, resume=True,
                     made_from=dict(dataset="toy", source="synthetic"))
    out = capsys.readouterr().out
    assert "resumed from run.pt after epoch 2 of 4" in out
    assert len(hist["train_loss"]) == 4 and hist["train_loss"][:2] == saved["history"]["train_loss"]
    final = torch.load(ckpt, weights_only=True)
    assert final["epoch"] == 4 and final["done"]
    assert not list(tmp_path.glob(".run.pt.*.tmp"))            # the dead writer's leftover is gone
    torch.manual_seed(0)
    ref = models.cifar_net(width=2, num_classes=2)              # the same run, never interrupted
    train.fit(ref, (data["x"], data["y"]), epochs=4, batch_size=16, lr=0.05, device="cpu",
              progress=False)
    for a, b in zip(ref.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
