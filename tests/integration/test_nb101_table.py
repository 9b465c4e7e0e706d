"""NAS-Bench-101 slices: hashes, coverage, label semantics (see ../shared/data/nb101/README.md)."""

import json

import numpy as np
import pytest

from nasharness.errors import UserError
from nasharness.spaces import nb101 as space
from nasharness.tabular import nb101 as mod

pytestmark = pytest.mark.integration


def test_every_source_key_is_reproduced_by_our_hash(data_dir):
    vis = json.loads((data_dir / mod.VIS).read_text())
    union = json.loads((data_dir / mod.UNION).read_text())
    ops_of = {0: space.CONV3X3, 1: space.CONV1X1, 2: space.MAXPOOL3X3}
    for i, key in enumerate(vis["key"]):
        codes = [c for c in vis["operations"][i] if c != -3]
        n = len(codes)
        ops = [space.INPUT] + [ops_of[c] for c in codes[1:-1]] + [space.OUTPUT]
        matrix = [[int(v) for v in row[:n]] for row in vis["adjacency"][i][:n]]
        assert space.make_spec(matrix, ops).hash() == key
    for key, rec in union.items():
        fixed = rec["fixed"]
        assert space.make_spec(fixed["module_adjacency"], fixed["module_operations"]).hash() == key
    assert len(vis["key"]) == 1000 and len(union) == 52


def test_coverage_and_sources(nb101):
    assert nb101.size == 1342  # 1,000 + 52 + 292 with 2 overlaps
    assert not nb101.is_full and nb101.space_size == 423_624
    src = nb101.table["sources"]
    assert src.str.contains("data-1k").sum() == 1000
    assert src.str.contains("naslib-union").sum() == 52
    assert src.str.contains("naslib-zc").sum() == 292
    info = nb101.info()
    assert info["architectures_present"] == 1342 and info["metrics"]["cifar10/test@108"] == 52
    assert info["metrics"]["cifar10/val@12"] == 1000 and info["metrics"]["cifar10/val@108"] == 1342


def test_label_semantics(nb101):
    t = nb101.table
    vis = t["sources"].str.contains("data-1k")
    assert (t.loc[vis, "cifar10/val@108/n_runs"] >= 1).all()
    assert t.loc[vis & ~t["sources"].str.contains("naslib-union"), "cifar10/val@108/n_runs"].eq(1).all()
    assert round(t.loc[vis, "src/data-1k/cifar10/val@108"].max(), 2) == 94.67  # slice maximum (PROVENANCE)
    union = t["sources"].str.contains("naslib-union")
    assert round(t.loc[union, "cifar10/test@108"].max(), 2) == 93.99  # best mean-of-3 test accuracy
    assert t.loc[union, "cifar10/test@108/n_runs"].eq(3).all()
    # accuracies are stored in percent; NB101's values are fractions on a k/9984 grid (9,984 validation images)
    v = t["cifar10/val@108/run0"].dropna().to_numpy() / 100
    assert np.allclose(v * 9984, np.round(v * 9984), atol=1e-3) and 0.5 < v.max() < 1
    # the zc file's random repeat is one of the naslib repeats for the arch they share
    shared = t[union & t["sources"].str.contains("naslib-zc")].iloc[0]
    runs = [shared[f"cifar10/val@108/run{k}"] for k in range(3)]
    assert min(abs(shared["src/naslib-zc/cifar10/val@108"] - r) for r in runs) < 1e-3
    assert (t["conflict"] == "").all()


def test_zc_specs_are_pruned_before_hashing(nb101):
    # 55 zc keys prune to the bare input->output graph, whose hash is 043721b9... (PROVENANCE)
    bare = nb101.table[nb101.table["n_vertices"] == 2]
    assert len(bare) == 1 and bare["hash"].iat[0].startswith("043721b9")
    assert bare["cifar10/val@108/n_runs"].iat[0] == 3  # its 55 samples hold exactly 3 distinct repeats


def test_lookup_by_hash_and_spec(nb101):
    h = nb101.key_of(0)
    spec = nb101.spec(h)
    assert nb101.index_of(spec) == 0 == nb101.index_of(h.upper())
    assert nb101.index_of((spec.numpy(), list(spec.ops))) == 0
    with pytest.raises(UserError, match="not in the NAS-Bench-101 table.*bench prepare 101"):
        nb101.index_of("f" * 32)


def test_protocol_is_honest_about_coverage(nb101):
    p = nb101.protocol("cifar10")
    assert p.proxy == "cifar10/val@12" and p.final == "cifar10/val@108"
    assert "1,342 of 423,624" in p.note
    with pytest.raises(UserError, match="unknown dataset.*valid: cifar10"):
        nb101.protocol("cifar100")
