"""DARTS / Fair DARTS building blocks: activations, the zero-one loss, the architecture step and the NB201 scoring."""

import io

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nasharness.supernet.architect import ArchConfig, Architect, zero_one_loss
from nasharness.supernet.nb201 import NB201Supernet, arch_to_path
from nasharness.supernet.trainer import GPUBatches
from nasharness.weightsharing.nb201 import NB201Adapter


def _architect(activation, model=None, **cfg):
    model = model or NB201Supernet(4, 1, 10)
    rng = np.random.default_rng(0)
    valid = GPUBatches(rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 64),
                       torch.device("cpu"))
    return Architect(model, [(6, 5)], activation, ArchConfig(**cfg), valid, 16, seed=3, device=torch.device("cpu"))


def test_sigmoid_weights_are_independent_softmax_weights_compete():
    for activation, others_move in (("sigmoid", False), ("softmax", True)):
        arch = _architect(activation)
        before = arch.weights()[0].detach().clone()
        with torch.no_grad():
            arch.alphas[0][2, 3] += 2.0  # raise one op's weight on edge 2
        after = arch.weights()[0].detach()
        assert after[2, 3] > before[2, 3]
        others = torch.cat([after[2, :3], after[2, 4:]]) - torch.cat([before[2, :3], before[2, 4:]])
        assert bool((others < -1e-6).all()) is others_move, activation
        assert torch.equal(after[[0, 1, 3, 4, 5]], before[[0, 1, 3, 4, 5]])  # other edges untouched either way


def test_zero_one_loss_value_and_gradient_on_known_inputs():
    alpha = torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64, requires_grad=True)
    s = torch.sigmoid(alpha)
    loss = zero_one_loss(s)
    expected = -((s.detach() - 0.5) ** 2).mean()
    assert float(loss.detach()) == pytest.approx(float(expected))
    assert float(zero_one_loss(torch.tensor([0.0, 1.0, 1.0, 0.0]))) == pytest.approx(-0.25)  # the minimum
    assert float(zero_one_loss(torch.tensor([0.5, 0.5]))) == 0.0  # the maximum: undecided weights
    loss.backward()
    sd = s.detach()
    # d/da of -(1/N) sum (sigmoid(a) - 0.5)^2 = -(2/N) (s - 0.5) s (1 - s): zero at a = 0, pushes a away from 0
    assert torch.allclose(alpha.grad, -(2 / 3) * (sd - 0.5) * sd * (1 - sd))
    assert alpha.grad[0] == 0 and alpha.grad[1] < 0 < alpha.grad[2]


def test_mixed_forward_with_one_hot_weights_equals_the_path():
    torch.manual_seed(0)
    net = NB201Supernet(4, 1, 10).eval()
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    path = arch_to_path(arch)
    w = F.one_hot(torch.tensor(path), 5).float()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x, w), net(x, path), atol=1e-5)


def test_second_order_step_with_zero_lr_equals_first_order():
    torch.manual_seed(0)
    model = NB201Supernet(4, 1, 10)
    arch = _architect("softmax", model, order=2)
    xb, yb = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    xv, yv = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    model.eval()  # no BN running-stat updates between the passes
    w0 = [p.detach().clone() for p in model.parameters()]  # before the virtual steps
    first = torch.autograd.grad(arch.arch_loss(xv, yv), arch.alphas)[0]
    second = arch._unrolled_grads(xb, yb, xv, yv, xi=0.0, wd=0.0)[0]
    assert torch.allclose(first, second, atol=1e-6)
    unrolled = arch._unrolled_grads(xb, yb, xv, yv, xi=0.5, wd=0.0)[0]
    assert not torch.allclose(first, unrolled, atol=1e-6)
    # the unrolled (virtual) weight step must leave the real weights exactly as they were
    after = [p.detach() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(w0, after, strict=True))
    # and the check can fail: a real step changes them
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert not all(torch.equal(a, b) for a, b in zip(w0, [p.detach() for p in model.parameters()], strict=True))


def test_architect_state_round_trips():
    arch = _architect("sigmoid", zero_one_weight=10.0)
    xb, yb = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    arch.before_step(xb, yb, trainer=None)
    buf = io.BytesIO()
    torch.save(arch.state_dict(), buf)  # as the checkpoint stores it (loaded weights-only)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    twin = _architect("sigmoid", arch.model, zero_one_weight=10.0)
    twin.load_state_dict(state)
    assert torch.equal(twin.alphas[0], arch.alphas[0]) and twin.steps == 1
    torch.manual_seed(1)
    arch.before_step(xb, yb, None)
    torch.manual_seed(1)
    twin.before_step(xb, yb, None)
    assert torch.equal(twin.alphas[0], arch.alphas[0])


class _FakeBench:
    def __init__(self, archs):
        self.archs = archs
        self.size = len(archs)

    def key_of(self, i):
        return self.archs[i]


def test_nb201_score_is_the_sum_of_log_weights_and_the_argmax_cell_scores_highest():
    from nasharness.spaces import NB201Space, nb201

    rng = np.random.default_rng(0)
    archs = sorted({NB201Space().sample(rng) for _ in range(300)})
    w = torch.softmax(torch.tensor(rng.normal(size=(6, 5))), -1).numpy()
    best = nb201.format_arch([nb201.OPS[k] for k in w.argmax(1)])
    archs.append(best)
    part = NB201Adapter(_FakeBench(archs))
    scores = part.scores([w], "softmax")
    one = archs[5]
    expected = sum(np.log(w[e, nb201.OPS.index(o)]) for e, o in enumerate(nb201.parse_arch(one)))
    assert scores[5] == pytest.approx(expected)
    assert part.derive([w]) == best and int(np.argmax(scores)) == len(archs) - 1
    assert np.exp(scores).max() <= 1.0  # a log-probability under the learned distribution
