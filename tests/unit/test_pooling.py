"""The supernet's 3x3 average pool (nasharness.supernet.pooling): bit for bit F.avg_pool2d(x, 3, 1, 1,
count_include_pad=False), forward and backward, so using it leaves training numerically unchanged."""

import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nasharness.supernet.nb201 import MixedCell, NB201Supernet, make_op
from nasharness.supernet.pooling import FAST_BELOW_CHANNELS, AvgPool3x3, avg_pool_3x3


def _native(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


@pytest.mark.parametrize("shape", [(64, 8, 32, 32), (5, 3, 7, 6), (2, 4, 1, 5), (3, 2, 2, 1), (4, 15, 9, 9)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_and_backward_are_bit_identical_to_the_native_pool(shape, layout, dtype):
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=gen, dtype=dtype).contiguous(memory_format=layout)
    g = torch.randn(shape, generator=gen, dtype=dtype).contiguous(memory_format=layout)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_native, out_fast = _native(a), avg_pool_3x3(b)
    assert out_fast.grad_fn is not None and "AvgPool3x3" in type(out_fast.grad_fn).__name__  # the fast path ran
    assert torch.equal(out_native, out_fast)
    assert out_fast.is_contiguous(memory_format=layout)
    out_native.backward(g)
    out_fast.backward(g)
    assert torch.equal(a.grad, b.grad)
    with torch.inference_mode():
        assert torch.equal(avg_pool_3x3(x), _native(x))


def test_many_channels_run_the_native_kernel_and_second_derivatives_work():
    x = torch.randn(2, FAST_BELOW_CHANNELS, 5, 5, requires_grad=True)
    assert "AvgPool2D" in type(avg_pool_3x3(x).grad_fn).__name__
    # GraSP-style double backward through the fast path (float64, numerically)
    y = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(avg_pool_3x3, (y,))
    assert torch.autograd.gradgradcheck(lambda t: avg_pool_3x3(t) ** 2, (y,))


def test_the_supernet_uses_it_and_the_standalone_network_the_native_module():
    pool = make_op("avg_pool_3x3", 8, fast_pool=True)
    assert isinstance(pool, AvgPool3x3) and isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 3
    assert type(make_op("avg_pool_3x3", 8)) is nn.AvgPool2d
    sup = NB201Supernet(8, 1, 10)
    cells = [m for m in sup.layers if isinstance(m, MixedCell)]
    assert all(isinstance(edge[4], AvgPool3x3) for c in cells for edge in c.edges)
    # op 4 (the pool) holds no state: checkpoints are unchanged
    assert [k for k in sup.state_dict() if re.search(r"edges\.\d+\.4\.", k)] == []


def test_supernet_training_is_bit_identical_with_the_native_pool():
    """Three SGD steps of the same supernet, one with the native pool swapped back in: the same weights, bit for
    bit (paths that use the pool on every edge and on some)."""
    torch.manual_seed(0)
    fast = NB201Supernet(8, 1, 10).to(memory_format=torch.channels_last)
    native = NB201Supernet(8, 1, 10).to(memory_format=torch.channels_last)
    native.load_state_dict(fast.state_dict())
    for cell in native.layers:
        if isinstance(cell, MixedCell):
            for edge in cell.edges:
                edge[4] = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, 32, 32, generator=gen).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (32,), generator=gen)
    for net in (fast, native):
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        for path in ((4, 4, 4, 4, 4, 4), (3, 4, 2, 4, 1, 4), (4, 0, 3, 4, 4, 2)):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, path), y).backward()
            opt.step()
    for (name, a), b in zip(fast.state_dict().items(), native.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_cpu_budget_speed_script_runs_both_variants_on_the_same_numbers(tmp_path):
    """benchmarks/perf_supernet.py --cpu-budget (one architecture, one repetition): the rows it writes, and the two
    variants give the same losses and accuracies bit for bit at the budget's full shape."""
    import csv
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "perf_supernet.py"
    out = tmp_path / "perf.csv"
    args = ["--cpu-budget", "--archs", "1", "--eval-archs", "12", "--reps", "1", "--eval-reps", "1", "--out", str(out)]
    assert runpy.run_path(str(script))["main"](args) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["measurement"].split(" (")[0] for r in rows] == ["SPOS step", "FairNAS step",
                                                               "inherited-weight eval, 1 archs",
                                                               "scoring pass, 12 archs", "scoring pass, 12 archs"]
    assert {r["identical"] for r in rows} == {"yes"} and all(float(r["speedup_vs_reference"]) > 0 for r in rows)
