"""Unit tests of helpers.attacks on a small CNN, against autograd / NumPy oracles."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import attacks

EPS = 8 / 255


def small_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 5),
    )


def colour_task(n, g):
    """Images whose class (0-4) is set by a colour tint: a tiny task the model learns in 1 s."""
    y = torch.arange(n) % 5
    tint = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]]).float()[y]
    x = 0.5 * torch.rand(n, 3, 16, 16, generator=g) + 0.4 * tint[:, :, None, None]
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def setup():
    model = small_model()
    g = torch.Generator().manual_seed(1)
    xt, yt = colour_task(200, g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    model.eval()
    x, y = colour_task(12, g)
    x[0, :, :4] = 0.0                # pixels on the box edges exercise the clipping
    x[1, :, :4] = 1.0
    return model, x, y


def ce(model, x, y):
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


ATTACKS = {
    "fgsm": lambda m, x, y, e: attacks.fgsm(m, x, y, e),
    "fgsm_rs": lambda m, x, y, e: attacks.fgsm(m, x, y, e, random_start=True),
    "pgd_linf": lambda m, x, y, e: attacks.pgd(m, x, y, e, "linf", steps=5),
    "pgd_l2": lambda m, x, y, e: attacks.pgd(m, x, y, 20 * e, "l2", steps=5),
    "pgd_restarts": lambda m, x, y, e: attacks.pgd(m, x, y, e, "linf", steps=3, restarts=2),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_inside_ball_and_box(setup, name):
    model, x, y = setup
    adv = ATTACKS[name](model, x, y, EPS)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert adv.min() >= 0 and adv.max() <= 1
    d = (adv - x).flatten(1)
    if name == "pgd_l2":
        assert (d.norm(dim=1) <= 20 * EPS * (1 + 1e-5)).all()
    else:
        assert (d.abs().amax(1) <= EPS + 1e-6).all()
    assert d.abs().amax() > EPS / 2            # it did move


@pytest.mark.parametrize("name", ATTACKS)
def test_loss_not_below_clean(setup, name):
    model, x, y = setup
    adv = ATTACKS[name](model, x, y, 2 / 255)
    assert (ce(model, adv, y) >= ce(model, x, y) - 1e-5).all()


def test_fgsm_matches_autograd_oracle(setup):
    model, x, y = setup
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    expected = (x + EPS * grad.sign()).clamp(0, 1)
    assert torch.allclose(attacks.fgsm(model, x, y, EPS), expected, atol=1e-7)


def test_pgd_one_step_no_start_is_fgsm(setup):
    model, x, y = setup
    a = attacks.pgd(model, x, y, EPS, steps=1, alpha=EPS, random_start=False)
    assert torch.allclose(a, attacks.fgsm(model, x, y, EPS), atol=1e-7)


def test_pgd_stronger_than_fgsm(setup):
    model, x, y = setup
    eps = 2 / 255
    l_fgsm = ce(model, attacks.fgsm(model, x, y, eps), y).mean()
    l_pgd = ce(model, attacks.pgd(model, x, y, eps, steps=10), y).mean()
    assert l_pgd >= l_fgsm - 1e-4


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_targeted_raises_target_probability(setup, norm):
    model, x, y = setup
    target = (y + 1) % 5
    eps = EPS if norm == "linf" else 1.0
    adv = attacks.pgd(model, x, y, eps, norm, steps=10, target=target)
    with torch.no_grad():
        p0 = model(x).softmax(1).gather(1, target[:, None])
        p1 = model(adv).softmax(1).gather(1, target[:, None])
    assert (p1 > p0).all()
    adv1 = attacks.fgsm(model, x, y, EPS, target=target)
    with torch.no_grad():
        assert model(adv1).softmax(1).gather(1, target[:, None]).mean() > p0.mean()


@pytest.mark.parametrize("name", ATTACKS)
def test_eps_zero_changes_nothing(setup, name):
    model, x, y = setup
    assert torch.equal(ATTACKS[name](model, x, y, 0.0), x)
    assert torch.equal(attacks.random_noise(x, 0.0, "linf"), x)
    assert torch.equal(attacks.random_noise(x, 0.0, "l2"), x)


@pytest.mark.parametrize("training", [False, True])
def test_parameters_and_mode_unchanged(setup, training):
    model, x, y = setup
    model.train(training)
    before = snapshot(model)
    for name, attack in ATTACKS.items():
        attack(model, x, y, EPS)
    attacks.fooling_image(model, 2, shape=(1, 3, 16, 16), steps=3, progress=False)
    attacks.robust_accuracy(model, x, y, lambda m, a, b: attacks.pgd(m, a, b, EPS, steps=2),
                            progress=False)
    after = snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)       # incl. BN buffers
    assert all(p.grad is None for p in model.parameters())
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    model.eval()


def test_train_mode_attack_keeps_mode_and_params(setup):
    """Adversarial training attacks the model in train mode (eval_mode=False)."""
    model, x, y = setup
    model.train()
    params = [p.detach().clone() for p in model.parameters()]
    attacks.fgsm(model, x, y, EPS, random_start=True, eval_mode=False)
    assert model.training
    assert all(torch.equal(a, b) for a, b in zip(params, model.parameters()))
    model.eval()


def test_project_l2_matches_numpy():
    g = torch.Generator().manual_seed(0)
    d = torch.randn(5, 3, 4, 4, generator=g)
    d[0] *= 1e-3                                   # already inside: unchanged
    out = attacks.project(d, 0.5, "l2").numpy()
    flat = d.numpy().reshape(5, -1)
    n = np.linalg.norm(flat, axis=1)
    expected = flat * np.minimum(1.0, 0.5 / n)[:, None]
    np.testing.assert_allclose(out.reshape(5, -1), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(attacks.project(d, 0.3, "linf").numpy(),
                               np.clip(d.numpy(), -0.3, 0.3))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_noise_has_exact_size(norm):
    x = torch.full((6, 3, 8, 8), 0.5)              # far from the box edges: no clipping
    eps = 0.01 if norm == "linf" else 0.2
    noisy = attacks.random_noise(x, eps, norm, generator=torch.Generator().manual_seed(0))
    sizes = attacks.norms(noisy - x, norm)
    np.testing.assert_allclose(sizes.numpy(), eps, rtol=1e-5)
    if norm == "linf":
        assert torch.allclose((noisy - x).abs(), torch.tensor(eps), atol=1e-6)
    start = attacks.random_in_ball(x, eps, norm, generator=torch.Generator().manual_seed(0))
    assert (attacks.norms(start, norm) <= eps * (1 + 1e-5)).all()


def test_fooling_image_raises_target_probability(setup):
    model, _, _ = setup
    img, probs = attacks.fooling_image(model, 3, shape=(2, 3, 16, 16), steps=15, lr=0.05,
                                       generator=torch.Generator().manual_seed(0), progress=False)
    assert img.min() >= 0 and img.max() <= 1 and img.shape == (2, 3, 16, 16)
    assert (probs[-1] > probs[0]).all()


def test_robust_accuracy(setup):
    model, x, y = setup
    pred = model(x).argmax(1)
    clean = (pred == y).float().mean().item()
    assert clean >= 0.75                                     # the tiny model learned the task
    assert attacks.robust_accuracy(model, x, y, progress=False) == pytest.approx(clean)
    rob = attacks.robust_accuracy(model, x, y, lambda m, a, b: attacks.pgd(m, a, b, 0.3, steps=5),
                                  progress=False)
    assert rob < clean


def test_bad_input_errors(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match=r"expected eps \(the radius of .*\): a number >= 0, got -0.1"):
        attacks.pgd(model, x, y, -0.1)
    with pytest.raises(ValueError, match="expected eps .*>= 0"):
        attacks.fgsm(model, x, y, -1 / 255)
    with pytest.raises(ValueError, match="expected norm: 'linf' or 'l2', got 'l3'"):
        attacks.pgd(model, x, y, EPS, norm="l3")
    with pytest.raises(ValueError, match="target class equals the true class"):
        attacks.pgd(model, x, y, EPS, target=y)
    with pytest.raises(ValueError, match="target class equals the true class"):
        attacks.fgsm(model, x[:1], y[:1], EPS, target=int(y[0]))
    with pytest.raises(ValueError, match=r"expected x: \(N, C, H, W\) float in \[0, 1\], got range"):
        attacks.fgsm(model, x * 2 - 0.5, y, EPS)
    with pytest.raises(ValueError, match=r"float in \[0, 1\], got range \[1, 2\]: pass pixels"):
        attacks.random_noise(x + 1, EPS)
    with pytest.raises(TypeError, match="got dtype torch.uint8: divide uint8 images by 255"):
        attacks.pgd(model, (x * 255).to(torch.uint8), y, EPS)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*got shape \(3, 16, 16\).*x\[None\]"):
        attacks.pgd(model, x[0], y, EPS)
    with pytest.raises(ValueError, match=r"expected labels y: one class or one per image"):
        attacks.pgd(model, x, y[:3], EPS)
    with pytest.raises(ValueError, match=r"expected steps \(gradient steps per run\): an integer >= 1, got 0"):
        attacks.pgd(model, x, y, EPS, steps=0)
    with pytest.raises(ValueError, match=r"expected restarts .*>= 1, got 0"):
        attacks.pgd(model, x, y, EPS, restarts=0)
    with pytest.raises(TypeError, match="expected eps .*: a finite number >= 0, got nan"):
        attacks.pgd(model, x, y, float("nan"))
    with pytest.raises(TypeError, match=r"expected x: \(N, C, H, W\) float in \[0, 1\] tensor, got list"):
        attacks.fgsm(model, x.tolist(), y, EPS)


# --------------------------------------------------------------------------- AutoAttack's APGD
def test_dlr_loss_is_scale_and_shift_invariant_and_signed():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(8, 6, generator=g)
    y = torch.randint(0, 6, (8,), generator=g)
    t = (y + 1) % 6
    for target in (None, t):
        base = attacks.dlr_loss(z, y, target)
        assert torch.allclose(attacks.dlr_loss(7.5 * z + 3.0, y, target), base, atol=1e-5)
    correct = z.argmax(1) == y
    assert (attacks.dlr_loss(z, y)[correct] < 0).all() and (attacks.dlr_loss(z, y)[~correct] > 0).all()


@pytest.mark.parametrize("loss,rank", [("ce", None), ("dlr", None), ("dlr", 2)])
def test_apgd_inside_ball_and_box_and_no_weaker_than_its_start(setup, loss, rank):
    model, x, y = setup
    before = snapshot(model)
    adv = attacks.apgd(model, x, y, EPS, steps=10, loss=loss, target_rank=rank,
                       generator=torch.Generator().manual_seed(0))
    assert adv.min() >= 0 and adv.max() <= 1
    assert ((adv - x).flatten(1).abs().amax(1) <= EPS + 1e-6).all()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "weights changed"
    if loss == "ce" and rank is None:
        fooled = attacks.predict_labels(model, adv) != y
        l_adv, l_clean = ce(model, adv, y), ce(model, x, y)
        assert (l_adv[~fooled] >= l_clean[~fooled] - 1e-5).all(), "a resisting image keeps its best (highest) loss"


def test_apgd_eps_zero_is_identity(setup):
    model, x, y = setup
    assert torch.equal(attacks.apgd(model, x, y, 0.0), x)


def test_autoattack_at_least_as_strong_as_its_first_attack(setup):
    model, x, y = setup
    eps = 4 / 255
    g = lambda: torch.Generator().manual_seed(0)                         # noqa: E731
    ce_only = attacks.robust_accuracy(model, x, y, lambda m, a, b: attacks.apgd(m, a, b, eps, steps=10, generator=g()),
                                      progress=False)
    full = attacks.robust_accuracy(model, x, y, lambda m, a, b: attacks.autoattack(m, a, b, eps, steps=10, n_targets=2,
                                                                                  generator=g()), progress=False)
    assert full <= ce_only
    adv = attacks.autoattack(model, x, y, eps, steps=10, n_targets=2, generator=g())
    resisting = attacks.predict_labels(model, adv) == y
    assert torch.equal(adv[resisting], x[resisting]), "images that resist are returned unchanged"
    assert ((adv - x).flatten(1).abs().amax(1) <= eps + 1e-6).all()


# --------------------------------------------------------------------------- adversarial training
def test_fgsmrs_training_hook_checks_and_restores_the_best_weights(setup):
    model, x, y = setup
    model = small_model(seed=2)
    model.load_state_dict(setup[0].state_dict())
    hook = attacks.FGSMRSTraining(EPS, 1.25 * EPS, x, y, check_every=2, check_steps=3,
                                  generator=torch.Generator().manual_seed(0))
    model.train()
    for _ in range(4):
        adv = hook(model, x, y)
        assert ((adv - x).abs().amax() <= EPS + 1e-6) and model.training
    assert [h[0] for h in hook.history] == [2, 4] and hook.best_state is not None
    best = {k: v.clone() for k, v in hook.best_state.items()}
    hook.best_robust = 2.0                     # pretend PGD accuracy was far higher before: a collapse
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert hook.finish(model) is True
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    hook2 = attacks.FGSMRSTraining(EPS, 1.25 * EPS, x, y, check_every=100)
    assert hook2.finish(model) is False       # no collapse: the weights stay


def test_cached_model_reuses_only_on_a_matching_record(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    calls = []

    def train_fn(m):
        calls.append(1)
        with torch.no_grad():
            m[0].weight.fill_(0.5)
        return {"seconds": 1.0, "checks": [(1, 0.5, 0.25)]}

    build = lambda: nn.Sequential(nn.Linear(3, 2))                       # noqa: E731
    m1, info1, reused1 = attacks.cached_model("t", {"recipe": {"lr": 0.1}}, build, train_fn, verbose=False)
    m2, info2, reused2 = attacks.cached_model("t", {"recipe": {"lr": 0.1}}, build, train_fn, verbose=False)
    assert (reused1, reused2) == (False, True) and len(calls) == 1
    assert torch.equal(m2[0].weight, m1[0].weight) and info2["seconds"] == 1.0
    _, _, reused3 = attacks.cached_model("t", {"recipe": {"lr": 0.2}}, build, train_fn, verbose=False)
    assert reused3 is False and len(calls) == 2



def test_cached_result_reuses_only_on_matching_models_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    calls = []
    model = nn.Sequential(nn.Linear(3, 2))

    def compute():
        calls.append(1)
        return {"standard": {"clean": 0.75, "pgd": 0.0}}

    made_from = lambda: {"model": attacks.weights_digest(model), "eps": 8 / 255}    # noqa: E731
    r1, reused1 = attacks.cached_result("e", made_from(), compute, verbose=False)
    r2, reused2 = attacks.cached_result("e", made_from(), compute, verbose=False)
    assert (reused1, reused2) == (False, True) and len(calls) == 1 and r2 == r1
    with torch.no_grad():
        model[0].weight.add_(1.0)                                     # other weights: evaluated again
    _, reused3 = attacks.cached_result("e", made_from(), compute, verbose=False)
    assert reused3 is False and len(calls) == 2

# --------------------------------------------------------------------------- linearity and thresholds
def test_linear_flip_budget_of_a_linear_model_is_exact():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    x = torch.rand(5, 3, 4, 4)
    with torch.no_grad():
        y = lin(x).argmax(1)
        z = lin(x)
    budget = attacks.linear_flip_budget(lin, x, y)
    W = lin[1].weight
    for i in range(5):
        other = int(z[i].scatter(0, y[i:i + 1], -float("inf")).argmax())
        m = z[i, y[i]] - z[i, other]
        assert torch.allclose(budget[i], m / (W[y[i]] - W[other]).abs().sum(), rtol=1e-5)
    assert (budget > 0).all()


def test_standard_error():
    assert attacks.standard_error(0.5, 100) == pytest.approx(0.05)
    assert attacks.standard_error(0.0, 10) == 0.0


def test_robust_accuracy_attacks_only_clean_correct_images(setup):
    model, x, y = setup
    seen = []

    def spy(m, a, b):
        seen.append(len(a))
        return a                                             # the identity "attack"
    right = int((attacks.predict_labels(model, x) == y).sum())
    assert attacks.robust_accuracy(model, x, y, spy, progress=False) == pytest.approx(right / len(x))
    assert sum(seen) == right                                # wrong-clean images are never attacked


def test_pgd_restarts_skip_won_images(setup):
    model, x, y = setup
    calls = []

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, a):
            calls.append(len(a))
            return self.m(a)
    net = Counting()
    g = torch.Generator().manual_seed(0)
    adv = attacks.pgd(net, x, y, 0.3, steps=3, restarts=3, generator=g)   # a budget that wins (almost) all
    won = attacks.predict_labels(model, adv) != y
    assert won.float().mean() >= 0.9
    assert calls[0] == len(x) and sum(calls) < 3 * (3 + 1) * len(x)   # later restarts skip the won images
    g = torch.Generator().manual_seed(0)
    one = attacks.pgd(model, x, y, 0.3, steps=3, restarts=1, generator=g)
    assert won.sum() >= (attacks.predict_labels(model, one) != y).sum()   # restarts never lose a win


def test_sample_photo_unknown_class():
    assert attacks.sample_photo("no such class") is None
