"""NAS-Bench-201 table against published facts and the traps listed in ../shared/data/nb201/README.md."""

import numpy as np
import pytest

from nasharness.errors import UserError
from nasharness.spaces import nb201 as space
from nasharness.tabular.nb201 import convert_help

pytestmark = pytest.mark.integration


def _argmax_all(b, metric):
    col = b.column(metric)
    return np.flatnonzero(col == col.max()).tolist(), col.max()


def test_shape_and_official_index_order(nb201):
    assert nb201.size == 15_625
    assert nb201.table["index"].tolist() == list(range(15_625))
    assert nb201.key_of(1651) == space.ALL_NONE


def test_published_optima(nb201):
    # NB201 paper: 94.37 (CIFAR-10 test), 73.51 (CIFAR-100 test), 47.31 (ImageNet16-120 test), 91.61 (c10-valid).
    idx, best = _argmax_all(nb201, "cifar10/ori-test@200")
    assert idx == [6111, 13714] and round(best, 2) == 94.37  # an exact float tie
    idx, best = _argmax_all(nb201, "cifar100/x-test@200")
    assert idx == [9930] and round(best, 2) == 73.51
    idx, best = _argmax_all(nb201, "ImageNet16-120/x-test@200")
    assert idx == [857] and round(best, 2) == 47.31
    idx, best = _argmax_all(nb201, "cifar10-valid/x-valid@200")
    assert idx == [6111] and round(best, 2) == 91.61
    idx, best = _argmax_all(nb201, "cifar10/ori-test@12")
    assert idx == [5374] and round(best, 2) == 89.16


def test_all_none_cell_is_at_chance(nb201):
    q = {m: nb201.query(1651, m) for m in ("cifar10/ori-test@200", "cifar100/x-test@200",
                                             "ImageNet16-120/x-test@200", "cifar10-valid/x-valid@200")}
    assert q["cifar10/ori-test@200"] == pytest.approx(10.0, abs=1e-4)
    assert q["cifar100/x-test@200"] == pytest.approx(1.0, abs=1e-4)
    assert q["ImageNet16-120/x-test@200"] == pytest.approx(100 / 120, abs=1e-4)
    assert q["cifar10-valid/x-valid@200"] == pytest.approx(9.712, abs=1e-4)
    # 341 cells are disconnected from the output and score exactly chance on CIFAR-10
    disc = ~nb201.table["connected"].to_numpy()
    assert disc.sum() == 341
    assert np.allclose(nb201.column("cifar10/ori-test@200")[disc], 10.0, atol=1e-4)


def test_splits_are_never_mixed(nb201):
    """Trap 2: the CSV's CIFAR-100 'test' is x-test (5k), the pickle's is ori-test (10k); its 'cifar10' is
    cifar10-valid on x-valid. Different columns, different values."""
    assert nb201.query(9930, "cifar100/x-test@200") == pytest.approx(73.513333, abs=1e-5)
    assert nb201.query(9930, "cifar100/ori-test@200") == pytest.approx(73.503333, abs=1e-5)
    assert nb201.query(6111, "cifar10-valid/x-valid@200") == pytest.approx(91.606667, abs=1e-5)
    assert nb201.query(6111, "cifar10/ori-test@200") == pytest.approx(94.373333, abs=1e-5)
    cols = set(nb201.table.columns)
    assert "cifar10/x-valid@200" not in cols and "cifar10/ori-test@200" in cols
    with pytest.raises(UserError, match="unknown metric 'cifar10/test@200'.*did you mean"):
        nb201.query(0, "cifar10/test@200")


def test_per_seed_values(nb201):
    n = nb201.table["cifar10-valid/x-valid@200/n_seeds"]
    assert (n == 3).sum() == 8169 and (n == 2).sum() == 7456
    seeds = [nb201.query(6111, f"cifar10-valid/x-valid@200/seed{s}") for s in (777, 888, 999)]
    assert seeds == pytest.approx([91.684, 91.720, 91.416], abs=1e-3)
    two = int(np.flatnonzero(n == 2)[0])
    assert np.isnan(nb201.query(two, "cifar10-valid/x-valid@200/seed999"))


def test_params_come_from_the_arch_not_the_faulty_source(nb201):
    """Trap 3: constrained-tpe's size_in_mb is off by one conv edge for 150 cells (NATS-Bench#36).
    The analytic count wins; the raw value stays visible for inspection."""
    for ds in ("cifar10-valid", "cifar100", "ImageNet16-120"):
        table_ds = "cifar10" if ds == "cifar10-valid" else ds
        raw = nb201.table[f"raw/ctpe-params-M/{ds}"].to_numpy()
        ours = nb201.table[f"params/{table_ds}"].to_numpy() / 1e6
        bad = np.flatnonzero(np.abs(raw - ours) > 5e-7)
        assert len(bad) == 150
        assert bad[:7].tolist() == [327, 737, 768, 770, 775, 1151, 2958]
        # exactly one conv edge in all 15 cells: 3x3 = 5*(2336 + 9280 + 36992), 1x1 = 5*(288 + 1088 + 4224)
        diffs = set(np.round(np.abs(raw[bad] - ours[bad]) * 1e6).astype(int).tolist())
        assert diffs == {243_040, 28_000}
    # the NATS-Bench#36 example cell: recorded 0.559386 M, analytic 0.802426 M
    assert nb201.query(15474, "params/cifar10") == 802_426
    assert nb201.query(15474, "raw/ctpe-params-M/cifar10-valid") == pytest.approx(0.559386)


def test_unique_cells_match_nats_bench(nb201, data_dir):
    """6,466 computationally distinct cells; our canonical string equals NATS-Bench's get_unique_str everywhere."""
    import pandas as pd

    from nasharness.tabular import nb201 as mod

    t = nb201.table
    nats = pd.read_csv(data_dir / mod.CSV)["UniqueString"]
    assert (t["unique_str"].to_numpy() == nats.to_numpy()).all()
    assert t["unique_str"].nunique() == space.N_UNIQUE == len(nb201.unique_indices())
    rep = nb201.unique_indices()
    assert (t["unique_id"].to_numpy()[rep] == rep).all()


def test_lookup_by_index_string_and_ops_agree(nb201):
    arch = nb201.key_of(6111)
    assert nb201.index_of(arch) == 6111
    assert nb201.index_of(" " + arch + " ") == 6111
    assert nb201.index_of_ops(space.parse_arch(arch)) == 6111
    every = [nb201.index_of(a) for _, a in nb201.iter_archs()]
    assert every == list(range(15_625))  # every arch string round-trips


def test_help_map_agrees_with_table(data_dir, nb201):
    from nasharness.tabular import nb201 as mod

    df = convert_help(data_dir / mod.HELP_MAP, [])
    assert (df["raw/help-arch"].to_numpy() == nb201.table["arch"].to_numpy()).all()


def test_vectorized_equals_single_lookups(nb201):
    rng = np.random.default_rng(0)
    idx = nb201.sample(rng, 500)
    many = nb201.query_many(idx, "cifar100/x-test@200")
    assert np.array_equal(many, [nb201.query(int(i), "cifar100/x-test@200") for i in idx])
    assert np.array_equal(nb201.sample(np.random.default_rng(0), 500), idx)


@pytest.mark.parametrize(
    ("arch", "pattern"),
    [(15_625, "out of range.*0..15624"), (-1, "out of range"), ("|nor_conv_3x3~0|", "malformed NB201 arch"),
     ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 operation")],
)
def test_bad_lookups(nb201, arch, pattern):
    with pytest.raises(UserError, match=pattern):
        nb201.query(arch, "cifar10/ori-test@200")


def test_latency_tables(nb201):
    assert len([c for c in nb201.table.columns if c.startswith("latency-ms/")]) == 27
    # HELP examples (PROVENANCE.md): eyeriss index 9930 = 9.052 ms, pixel2 index 6111 = 25 ms
    assert nb201.query(9930, "latency-ms/eyeriss") == pytest.approx(9.052, abs=1e-3)
    assert nb201.query(6111, "latency-ms/pixel2") == 25
