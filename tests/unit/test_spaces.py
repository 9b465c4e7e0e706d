import numpy as np
import pytest

from nasharness.errors import UserError
from nasharness.plugins import get_space
from nasharness.spaces import nb101, nb201

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


# ---- NB201 -----------------------------------------------------------------------------------------------------
def test_nb201_round_trip():
    ops = nb201.parse_arch(ALL_CONV3)
    assert ops == ("nor_conv_3x3",) * 6 and nb201.format_arch(ops) == ALL_CONV3


@pytest.mark.parametrize(
    "bad",
    ["", "|nor_conv_3x3~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
     "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "none,none,none,none,none,none", 42],
)
def test_nb201_malformed(bad):
    with pytest.raises(UserError, match="NB201"):
        nb201.parse_arch(bad)


def test_nb201_params_published_all_conv3x3():
    # NATS-Bench records (constrained-tpe PROVENANCE): 1.531546 / 1.537396 / 1.538696 M params.
    assert [nb201.n_params(ALL_CONV3, c) for c in (10, 100, 120)] == [1_531_546, 1_537_396, 1_538_696]


def test_nb201_canonical_merges_equivalent_cells():
    # conv applied to skip(input) at node 2 equals conv applied to the input directly.
    a = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"
    b = "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert a != b and nb201.canonical_string(a) == nb201.canonical_string(b)
    # Different computations differ.
    c = "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert nb201.canonical_string(a) != nb201.canonical_string(c)
    # A conv fed only by zero is zero: node 2 is unused, so its op does not matter.
    d1 = "|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    d2 = "|none~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"
    assert nb201.canonical_string(d1) == nb201.canonical_string(d2)


def test_nb201_connectivity():
    assert not nb201.output_connected(nb201.ALL_NONE)
    assert nb201.output_connected(ALL_CONV3)
    assert not nb201.output_connected("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")


def test_nb201_space_sample_and_mutate_are_seeded():
    space = get_space("nb201")
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    m = space.mutate(ALL_CONV3, np.random.default_rng(0))
    assert sum(x != y for x, y in zip(nb201.parse_arch(m), nb201.parse_arch(ALL_CONV3), strict=True)) == 1


# ---- NB101 -----------------------------------------------------------------------------------------------------
IN, OUT, C3, C1, MP = nb101.INPUT, nb101.OUTPUT, nb101.CONV3X3, nb101.CONV1X1, nb101.MAXPOOL3X3


def _chain(n_mid):
    m = np.zeros((n_mid + 2, n_mid + 2), int)
    for i in range(n_mid + 1):
        m[i, i + 1] = 1
    return m


@pytest.mark.parametrize(
    ("matrix", "ops", "pattern"),
    [
        (_chain(6), [IN] + [C3] * 6 + [OUT], "at most 7"),
        (np.triu(np.ones((7, 7), int), 1), [IN] + [C3] * 5 + [OUT], "21 edges after pruning; .* at most 9"),
        (np.array([[0, 1, 0], [1, 0, 1], [0, 0, 0]]), [IN, C3, OUT], "strictly upper-triangular"),
        (_chain(1), [IN, "conv5x5", OUT], "unknown NB101 operation"),
        (_chain(1), [C3, C3, OUT], "must start with 'input'"),
        (np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), [IN, C3, OUT], "output is unreachable"),
        (_chain(1), [IN, OUT], "3x3 matrix but 2 ops"),
        (np.array([[0, 2], [0, 0]]), [IN, OUT], "0 or 1"),
    ],
)
def test_nb101_invalid_specs_name_the_rule(matrix, ops, pattern):
    with pytest.raises(nb101.SpecError, match=pattern):
        nb101.make_spec(matrix, ops)


def test_nb101_prune_removes_dangling_vertices():
    # vertex 2 has no path to the output; vertex 3 is not reachable from the input
    m = np.array([
        [0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
    ])
    spec = nb101.make_spec(m, [IN, C3, C1, MP, OUT])
    assert spec.ops == (IN, C3, OUT) and spec.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0))
    assert spec.hash() == nb101.make_spec(_chain(1), [IN, C3, OUT]).hash()


def test_nb101_hash_is_invariant_to_vertex_relabeling():
    # input -> {a, b} -> output, with a = conv3x3, b = conv1x1; swapping a and b is the same graph
    m = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    h1 = nb101.make_spec(m, [IN, C3, C1, OUT]).hash()
    h2 = nb101.make_spec(m, [IN, C1, C3, OUT]).hash()
    h3 = nb101.make_spec(m, [IN, C3, C3, OUT]).hash()
    assert h1 == h2 != h3


def test_nb101_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    m = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert nb101.make_spec(torch.tensor(m), [IN, C3, C1, OUT]).hash() == nb101.make_spec(m, [IN, C3, C1, OUT]).hash()


def test_nb101_space_samples_valid_specs_deterministically():
    space = get_space("nb101")
    s1 = [space.sample(np.random.default_rng(5)).hash() for _ in range(2)]
    assert s1[0] == s1[1]
    spec = space.sample(np.random.default_rng(1))
    assert spec.n_edges <= 9 and spec.n_vertices <= 7
    mutated = space.mutate(spec, np.random.default_rng(2))
    assert mutated.hash() != spec.hash()
