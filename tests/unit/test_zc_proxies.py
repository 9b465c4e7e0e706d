"""Zero-cost proxies (nasharness.zc) on tiny networks whose values are computed by hand (numpy closed forms)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nasharness import zc
from nasharness.errors import ConfigError, UserError

K = 1e-5


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks: one thread is faster and leaves the other core alone; restored for the other test files."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def built(factory, seed=0):
    """The network compute() builds with init='default' and init_seed=seed."""
    torch.manual_seed(seed)
    return factory()


def data(n, shape=(1, 2, 2), classes=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def np_(t):
    return t.detach().double().numpy()


# ------------------------------------------------------------------------------------------------ config, API

@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"batch_size": 2.0}, "batch_size must be a positive integer"),
    ({"n_batches": True}, "n_batches must be a positive integer"),
    ({"init": "orthogonal"}, "init must be one of 'default', 'kaiming', 'xavier'"),
    ({"init_seed": -1}, r"init_seed must be an integer in \[0, 2\*\*63\)"),
    ({"bn_mode": "training"}, "bn_mode must be one of 'train', 'eval'"),
    ({"synflow_bn": "remove"}, "synflow_bn must be one of 'identity', 'eval', 'train'"),
    ({"synflow_input": "data"}, "synflow_input must be one of 'ones'"),
    ({"synflow_dtype": "float16"}, "synflow_dtype must be one of 'float64', 'float32'"),
    ({"loss": "mse"}, "loss must be one of 'cross_entropy'"),
    ({"fisher_modules": "Conv2d"}, r"got the string 'Conv2d' \(write \('Conv2d',\)\)"),
    ({"fisher_modules": ()}, "non-empty tuple of module class names"),
    ({"fisher_modules": ("Conv 2d",)}, "non-empty tuple of module class names"),
    ({"zen_gamma": 0.0}, "zen_gamma must be a positive finite number"),
    ({"zen_gamma": float("nan")}, "zen_gamma must be a positive finite number"),
    ({"zen_repeat": 0}, "zen_repeat must be a positive integer"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        zc.ZCConfig(**kwargs)


def test_config_defaults_and_list_coercion():
    cfg = zc.ZCConfig(fisher_modules=["Conv2d"])
    assert cfg.fisher_modules == ("Conv2d",)
    assert (cfg.batch_size, cfg.synflow_dtype, cfg.bn_mode, cfg.synflow_bn) == (64, "float64", "train", "identity")
    with pytest.raises(AttributeError):
        cfg.batch_size = 3


def test_api_errors():
    f = lambda: nn.Sequential(nn.Flatten(), nn.Linear(4, 2))  # noqa: E731
    x, y = data(4)
    cfg = zc.ZCConfig(batch_size=4)
    with pytest.raises(UserError, match="unknown zero-cost proxy 'snipp'"):
        zc.compute(f, ["snipp"], (x, y), cfg)
    with pytest.raises(UserError, match="batch 0 has 4 images but ZCConfig.batch_size is 8"):
        zc.compute(f, ["snip"], (x, y), zc.ZCConfig(batch_size=8))
    with pytest.raises(UserError, match="n_batches is 2 but only 1 batch"):
        zc.compute(f, ["snip"], [(x, y)], zc.ZCConfig(batch_size=4, n_batches=2))
    with pytest.raises(UserError, match="need labels"):
        zc.compute(f, ["snip"], x, cfg)
    img, _ = data(4, (3, 8, 8))
    assert all(map(math.isfinite, zc.compute(ConvNet, ["naswot", "jacov"], img, cfg).values()))  # no labels needed
    assert zc.compute(f, ["naswot"], x, cfg)["naswot"] == -math.inf  # no ReLU: K = 0
    with pytest.raises(UserError, match="must return a torch.nn.Module"):
        zc.compute(lambda: 3, ["params"], x, cfg)


def test_package_import_is_lazy():
    code = "import sys, nasharness.zc as z; z.ZCConfig(); z.PROXIES; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------------ synflow

class Chain(nn.Module):
    """Bias-free linear chain (with a ReLU, which is the identity on the all-positive synflow flow)."""

    def __init__(self, bn=False):
        super().__init__()
        self.l1, self.l2 = nn.Linear(4, 3, bias=False), nn.Linear(3, 5, bias=False)
        self.l3 = nn.Linear(5, 2, bias=False)
        self.bn = nn.BatchNorm1d(3) if bn else nn.Identity()

    def forward(self, x):
        return self.l3(self.l2(F.relu(self.bn(self.l1(x.flatten(1))))))


def test_synflow_linear_chain_closed_form():
    # R = 1' |W3| |W2| |W1| 1 is linear in each layer's weights, so sum_ij |w_ij dR/dw_ij| = R for every layer:
    # synflow = (number of layers) * R.
    x, y = data(3)
    m = built(Chain)
    r = np.ones(2) @ np.abs(np_(m.l3.weight)) @ np.abs(np_(m.l2.weight)) @ np.abs(np_(m.l1.weight)) @ np.ones(4)
    cfg = zc.ZCConfig(batch_size=3)
    assert zc.compute(Chain, ["synflow"], (x, y), cfg)["synflow"] == pytest.approx(3 * r, rel=1e-12)
    # BN: identity by default (zero-cost-nas), eval mode with fresh statistics = a 1/sqrt(1 + eps) scale (Tanaka)
    bn = lambda: Chain(bn=True)  # noqa: E731
    assert zc.compute(bn, ["synflow"], (x, y), cfg)["synflow"] == pytest.approx(3 * r, rel=1e-12)
    ev = zc.compute(bn, ["synflow"], (x, y), zc.ZCConfig(batch_size=3, synflow_bn="eval"))["synflow"]
    assert ev == pytest.approx(3 * r / math.sqrt(1 + 1e-5), rel=1e-12)
    f32 = zc.compute(Chain, ["synflow"], (x, y), zc.ZCConfig(batch_size=3, synflow_dtype="float32"))["synflow"]
    assert f32 == pytest.approx(3 * r, rel=1e-5)


def test_synflow_sign_invariant():
    # absolute values: flipping the sign of a weight changes nothing
    def flipped():
        m = Chain()
        with torch.no_grad():
            m.l2.weight[0].neg_()
        return m

    x, y = data(2)
    cfg = zc.ZCConfig(batch_size=2)
    assert zc.compute(flipped, ["synflow"], (x, y), cfg) == pytest.approx(zc.compute(Chain, ["synflow"], (x, y), cfg))


# ------------------------------------------------------------------------------------------------ naswot

def test_naswot_kernel_direct():
    codes = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 0, 1]])
    expect = np.array([[3, 1, 2], [1, 3, 0], [2, 0, 3]], float)  # K_ij = units on which i and j agree
    assert np.array_equal(zc.naswot_kernel(codes).numpy(), expect)
    c = codes.double()
    assert torch.equal(zc.naswot_kernel(codes), c @ c.T + (1 - c) @ (1 - c).T)


class TwoReLU(nn.Module):
    """A functional ReLU on the input (codes x > 0) and an in-place module ReLU on x - 1 (codes x > 1)."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        h = x.flatten(1)
        return self.lin(F.relu(h) + self.relu(h - 1))


def test_naswot_known_codes():
    x = torch.tensor([[2.0, -1.0, 0.5, 3.0], [0.2, 0.3, -2.0, 1.5], [-1.0, 2.5, 1.2, -0.1]]).reshape(3, 1, 2, 2)
    h = np_(x.flatten(1))
    kern = np.zeros((3, 3))
    for c in ((h > 0).astype(float), (h > 1).astype(float)):
        kern += c @ c.T + (1 - c) @ (1 - c).T
    got = zc.compute(TwoReLU, ["naswot"], x, zc.ZCConfig(batch_size=3))["naswot"]
    assert got == pytest.approx(np.linalg.slogdet(kern)[1], rel=1e-12)


# ------------------------------------------------------------------------------------------------ gradient proxies

class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(4, 3), nn.Linear(3, 2)

    def forward(self, x):
        return self.l2(F.relu(self.l1(x.flatten(1))))


def hand_two_layer(m, x, y):
    """Mean cross-entropy gradients of TwoLayer in numpy, and the fisher terms of its two Linear outputs."""
    xs, n = np_(x.flatten(1)), len(y)
    w1, b1, w2, b2 = (np_(t) for t in (m.l1.weight, m.l1.bias, m.l2.weight, m.l2.bias))
    a1 = xs @ w1.T + b1
    h = np.maximum(a1, 0)
    z = h @ w2.T + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(2)[y.numpy()]) / n
    g2 = dz.T @ h
    da1 = (dz @ w2) * (a1 > 0)
    g1 = da1.T @ xs
    fisher = (0.5 * ((a1 * da1) ** 2).mean(0)).sum() + (0.5 * ((z * dz) ** 2).mean(0)).sum()
    return (w1, g1), (w2, g2), fisher


def test_snip_grad_norm_fisher_two_layer_by_hand():
    x, y = data(5)
    (w1, g1), (w2, g2), fisher = hand_two_layer(built(TwoLayer), x, y)
    got = zc.compute(TwoLayer, ["snip", "grad_norm", "fisher"], (x, y), zc.ZCConfig(batch_size=5))
    assert got["snip"] == pytest.approx(np.abs(w1 * g1).sum() + np.abs(w2 * g2).sum(), rel=1e-5)
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(g1) + np.linalg.norm(g2), rel=1e-5)
    assert got["fisher"] == pytest.approx(fisher, rel=1e-5)


class ConvNet(nn.Module):
    """conv -> BN -> in-place ReLU -> conv(stride 2, no bias) -> global mean -> linear; optional (logits, aux)."""

    def __init__(self, aux=False):
        super().__init__()
        self.c1, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.c2 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(8, 10)
        self.aux = aux

    def forward(self, x):
        h = self.c2(self.relu(self.bn(self.c1(x))))
        out = self.fc(h.mean((2, 3)))
        return (out, h) if self.aux else out


def test_fisher_conv_by_hand():
    # fisher_modules=Conv2d only: the conv outputs, one of them modified in place by the ReLU that follows
    x, y = data(6, (3, 8, 8), classes=10)
    m = built(ConvNet)
    a1 = F.conv2d(x, m.c1.weight, m.c1.bias, padding=1)
    a1.retain_grad()
    a2 = F.conv2d(F.relu(F.batch_norm(a1, None, None, m.bn.weight, m.bn.bias, training=True)), m.c2.weight,
                  stride=2, padding=1)
    a2.retain_grad()
    F.cross_entropy(m.fc(a2.mean((2, 3))), y).backward()
    expect = sum(float((0.5 * (a.detach() * a.grad).sum((2, 3)).pow(2).mean(0)).sum()) for a in (a1, a2))
    got = zc.compute(ConvNet, ["fisher"], (x, y), zc.ZCConfig(batch_size=6, fisher_modules=("Conv2d",)))
    assert got["fisher"] == pytest.approx(expect, rel=1e-5)


def test_params_flops_l2_norm_small_conv_net():
    x, y = data(2, (3, 8, 8), classes=10)
    got = zc.compute(ConvNet, ["params", "flops", "l2_norm"], (x, y), zc.ZCConfig(batch_size=2))
    assert got["params"] == (3 * 4 * 9 + 4) + 2 * 4 + 4 * 8 * 9 + (8 * 10 + 10)
    # multiply-adds per image at 8x8: conv1 8*8*4*(3*9), conv2 4*4*8*(4*9), fc 8*10 (bias adds, BN, pool: none)
    assert got["flops"] == 8 * 8 * 4 * 27 + 4 * 4 * 8 * 36 + 80
    m = built(ConvNet)
    assert got["l2_norm"] == pytest.approx(sum(np.linalg.norm(np_(w)) for w in (m.c1.weight, m.c2.weight,
                                                                                 m.fc.weight)), rel=1e-6)


# ------------------------------------------------------------------------------------------------ jacov

def test_jacov_score_direct():
    # two rows with correlation 0.5: eigenvalues 0.5, 1.5; correlation -1: eigenvalues 0, 2
    for rows, eig in (([[1, 2, 3], [1, 3, 2]], (0.5, 1.5)), ([[1, 2, 3], [3, 2, 1]], (0.0, 2.0))):
        assert zc.jacov_score(np.array(rows, float)) == pytest.approx(
            -sum(math.log(v + K) + 1 / (v + K) for v in eig), rel=1e-9)
    assert math.isnan(zc.jacov_score(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])))  # constant row


def test_jacov_linear_model():
    # logits = W x + b: every image has the Jacobian 1'W, so the correlation matrix is all ones
    n = 4
    x, _ = data(n, (1, 3, 3))
    f = lambda: nn.Sequential(nn.Flatten(), nn.Linear(9, 3))  # noqa: E731
    got = zc.compute(f, ["jacov"], x, zc.ZCConfig(batch_size=n))["jacov"]
    expect = -(math.log(n + K) + 1 / (n + K)) - (n - 1) * (math.log(K) + 1 / K)
    assert got == pytest.approx(expect, rel=1e-6)


# ------------------------------------------------------------------------------------------------ grasp

class Scalar(nn.Module):
    """logits (w x, 0): with label 0, L = mean -log sigmoid(w x)."""

    def __init__(self, w, unused=False):
        super().__init__()
        self.lin = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.lin.weight.fill_(w)
        self.unused = nn.Linear(3, 3) if unused else None

    def forward(self, x):
        z = self.lin(x.flatten(1))
        return torch.cat([z, torch.zeros_like(z)], 1)


@pytest.mark.parametrize("w", [0.7, -0.4, 0.0])
def test_grasp_closed_form_sign_and_zero(w):
    xs = np.array([0.5, 1.0, 2.0])
    x, y = torch.tensor(xs, dtype=torch.float32).reshape(3, 1, 1, 1), torch.zeros(3, dtype=torch.long)
    s = 1 / (1 + np.exp(-w * xs))
    g = np.mean(-(1 - s) * xs)                 # dL/dw
    h = np.mean(s * (1 - s) * xs**2)           # d2L/dw2
    got = zc.compute(lambda: Scalar(w, unused=True), ["grasp"], (x, y), zc.ZCConfig(batch_size=3))["grasp"]
    assert got == pytest.approx(-w * h * g, rel=1e-5, abs=1e-12)
    assert np.sign(got) == np.sign(w)  # x > 0: -w H g = w * (positive)
    if w == 0.0:
        assert got == 0.0


# ------------------------------------------------------------------------------------------------ zen

class PoolNet(nn.Module):
    """Pre-GAP map = output of the second BN + ReLU, pooled by an AdaptiveAvgPool2d module then flattened."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(6, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.body(x)), 1))


def test_zen_finite_deterministic_and_feature_detection():
    x, y = data(4, (3, 8, 8), classes=10)
    cfg = zc.ZCConfig(batch_size=4)
    a = zc.compute(PoolNet, ["zen"], (x, y), cfg)["zen"]
    assert math.isfinite(a)
    assert zc.compute(PoolNet, ["zen"], (x, y), cfg)["zen"] == a
    assert zc.compute(PoolNet, ["zen"], (x, y), zc.ZCConfig(batch_size=4, init_seed=1))["zen"] != a
    # the automatically found pre-GAP map is the one an explicit features callable gives
    explicit = zc.compute(PoolNet, ["zen"], (x, y), cfg, features=lambda m, inp: m.body(inp))["zen"]
    assert explicit == a
    # and for x.mean((2, 3)) pooling (ConvNet) it is c2's output
    b = zc.compute(ConvNet, ["zen"], (x, y), cfg)["zen"]
    feats = lambda m, inp: m.c2(m.relu(m.bn(m.c1(inp))))  # noqa: E731
    assert zc.compute(ConvNet, ["zen"], (x, y), cfg, features=feats)["zen"] == b
    class Flat(nn.Module):  # reduces no 4-D tensor to one value per image: nothing to find
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3 * 8 * 8, 10)

        def forward(self, inp):
            return self.lin(inp.reshape(-1).view(len(inp), -1))

    with pytest.raises(UserError, match="feature map before the global pool"):
        zc.compute(Flat, ["zen"], (x, y), cfg)


def test_zen_by_hand_single_bn_layer():
    # conv (N(0,1) weights, bias 0) -> BN (train) -> pre-GAP: score = log(mean_n sum|f1 - f2|) + log sqrt(mean rv)
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.fc = nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2), nn.Linear(2, 10)

        def forward(self, x):
            return self.fc(self.bn(self.conv(x)).mean((2, 3)))

    x, y = data(4, (3, 4, 4), classes=10)
    got = zc.compute(Net, ["zen"], (x, y), zc.ZCConfig(batch_size=4, init_seed=3))["zen"]
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(2, 3, 1, 1, generator=gen)  # nn.init.normal_ draws in this order: conv, then fc
    torch.randn(10, 2, generator=gen)
    a, b = torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)
    rv = torch.ones(2, dtype=torch.float64)
    feats = []
    for inp in (a, a + 0.01 * b):
        c = F.conv2d(inp, w).double()
        feats.append((c - c.mean((0, 2, 3), keepdim=True)) / torch.sqrt(c.var((0, 2, 3), unbiased=False,
                                                                            keepdim=True) + 1e-5))
        rv = 0.9 * rv + 0.1 * c.var((0, 2, 3), unbiased=True)
    expect = math.log(float((feats[0] - feats[1]).abs().sum((1, 2, 3)).mean())) + math.log(math.sqrt(rv.mean()))
    assert got == pytest.approx(expect, rel=1e-4)


# ------------------------------------------------------------------------------------------------ sharing

def nb201_tiny():
    from nasharness.supernet.nb201 import NB201Network

    return NB201Network("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
                        channels=4, cells_per_stage=1)


def se_hswish_tiny():
    """Conv, h-swish and a squeeze-excite gate (hardsigmoid): the SCARLET space's activations, whose second
    derivative torch does not implement (GraSP needs it)."""
    torch.manual_seed(0)
    conv, fc = nn.Conv2d(3, 6, 3, padding=1), nn.Linear(6, 10)
    se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(6, 6, 1), nn.Hardsigmoid())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.act, self.se, self.fc = conv, nn.BatchNorm2d(6), nn.Hardswish(), se, fc

        def forward(self, x):
            h = self.act(self.bn(self.conv(x)))
            return self.fc(torch.relu(h * self.se(h)).mean((2, 3)))  # (a ReLU for NASWOT's codes)

    return Net()


def test_grasp_through_hardswish_and_hardsigmoid():
    from nasharness.zc.proxies import _TwiceDifferentiable

    z = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 4
    with _TwiceDifferentiable():
        clamps = F.hardsigmoid(z), F.hardswish(z), nn.Hardswish()(z)
    assert torch.equal(clamps[0], F.hardsigmoid(z)) and torch.equal(clamps[1], F.hardswish(z))  # bit-identical
    assert torch.equal(clamps[2], F.hardswish(z))
    x, y = data(8, (3, 8, 8), classes=10)
    with pytest.raises(RuntimeError, match="hardsigmoid_backward"):  # what the clamps in the proxies' forwards avoid
        net = se_hswish_tiny()
        g = torch.autograd.grad(F.cross_entropy(net(x), y), list(net.parameters()), create_graph=True)
        torch.autograd.grad(sum((a * a).sum() for a in g), list(net.parameters()))
    got = zc.compute(se_hswish_tiny, ["grasp", "snip"], (x, y), zc.ZCConfig(batch_size=8))
    assert math.isfinite(got["grasp"]) and got["grasp"] != 0.0
    net = se_hswish_tiny()  # the same forward as torch's kernels: snip equals the plain computation
    loss = F.cross_entropy(net.train()(x), y)
    weights = [m.weight for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    expect = math.fsum(float((w.detach() * g).abs().sum(dtype=torch.float64))
                       for w, g in zip(weights, torch.autograd.grad(loss, weights), strict=True))
    assert got["snip"] == pytest.approx(expect, rel=1e-6)


@pytest.mark.parametrize("factory, cfg", [
    (nb201_tiny, zc.ZCConfig(batch_size=8)),
    (se_hswish_tiny, zc.ZCConfig(batch_size=8)),
    (lambda: ConvNet(aux=True), zc.ZCConfig(batch_size=4, n_batches=2, init="kaiming", synflow_bn="eval")),
    (ConvNet, zc.ZCConfig(batch_size=4, bn_mode="eval", init_seed=5, fisher_modules=("ReLU", "Linear"))),
])
def test_compute_equals_reference(factory, cfg):
    batches = [data(8, (3, 8, 8), classes=10, seed=s) for s in range(cfg.n_batches)]
    shared = zc.compute(factory, zc.PROXIES, batches, cfg)
    ref = zc.compute_reference(factory, zc.PROXIES, batches, cfg)
    assert list(shared) == list(zc.PROXIES)
    assert shared == ref  # identical numbers, not just close
    assert all(math.isfinite(v) for v in shared.values())
    assert zc.compute(factory, zc.PROXIES, batches, cfg) == shared  # deterministic
    # a subset gives the same values as the full run
    sub = ["fisher", "synflow", "jacov"]
    assert zc.compute(factory, sub, batches, cfg) == {k: shared[k] for k in sub}


def test_determinism_seed_tuple_output_and_module_template():
    x, y = data(4, (3, 8, 8), classes=10)
    names = ["synflow", "snip", "grasp", "naswot"]
    a = zc.compute(ConvNet, names, (x, y), zc.ZCConfig(batch_size=4, init_seed=1))
    b = zc.compute(ConvNet, names, (x, y), zc.ZCConfig(batch_size=4, init_seed=2))
    assert all(a[k] != b[k] for k in ("synflow", "snip", "grasp"))
    # (logits, aux) outputs score as their logits
    assert zc.compute(lambda: ConvNet(aux=True), names, (x, y), zc.ZCConfig(batch_size=4, init_seed=1)) == a
    # a module is copied, with its own weights; the caller's RNG state and module are untouched
    torch.manual_seed(1)
    net = ConvNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = torch.get_rng_state()
    assert zc.compute(net, names, (x, y), zc.ZCConfig(batch_size=4)) == a
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


# ------------------------------------------------------------------------------------------------ vote

def test_vote_hand_table():
    table = {"synflow": np.array([3.0, 2.0, 1.0]), "jacov": np.array([1.0, 2.0, 3.0]),
             "snip": np.array([3.0, 1.0, 2.0]), "params": np.array([0.0, 0.0, 9.0])}
    # 0 beats 1 (synflow, snip) and 2 (synflow, snip); 2 beats 1 (jacov, snip): Copeland fractions
    assert np.array_equal(zc.vote(table), [1.0, 0.0, 0.5])
    # ties and NaNs abstain; a pair nobody decides is half a win
    assert np.array_equal(zc.vote({"a": np.array([1.0, 1.0]), "b": np.array([1.0, 2.0])}, names=None), [0.0, 1.0])
    assert np.array_equal(zc.vote({"a": np.array([np.nan, 1.0]), "b": np.array([2.0, 1.0])}, names=None), [1.0, 0.0])
    assert np.array_equal(zc.vote({"a": np.array([1.0, 1.0])}, names=None), [0.5, 0.5])
    with pytest.raises(UserError, match="vote needs the scores of 'synflow'"):
        zc.vote({"jacov": np.zeros(2), "snip": np.zeros(2)})


def test_vote_matches_pairwise_loop_of_abdelfattah():
    rng = np.random.default_rng(0)
    table = {k: rng.normal(size=40) for k in zc.VOTE_PROXIES}
    n = 40
    expect = np.zeros(n)
    for i in range(n):
        for j in range(n):
            if i != j:  # Abdelfattah's rule: i better when at least half of the proxies say so
                pos = sum(table[k][i] - table[k][j] > 0 for k in zc.VOTE_PROXIES)
                expect[i] += pos >= len(zc.VOTE_PROXIES) / 2
    assert np.allclose(zc.vote(table, block=7), expect / (n - 1))
