"""Zero-cost proxies on the spaces without a table: the DARTS space (candidates drawn by the space's sampler, or
NSGA-II) and the ImageNet spaces (NSGA-II over the proxy and MAdds), at toy sizes. The pick must be the best-scored
candidate the run wrote (within the MAdds limit), the same seed must give the same candidates and pick, and the
settings that only a space without a table takes are refused on a table."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import nasharness as nh
from nasharness.errors import ConfigError, UserError
from nasharness.plugins import BENCHMARKS


def _entry(bench):
    return BENCHMARKS.factory(bench)


def _run(tmp_path, method, bench, seed=0, sub="r", **over):
    return nh.run(nh.RunConfig(method=method, bench=bench, dataset=_entry(bench).datasets[0],
                               seed=seed, tracking=False, n_boot=0, out_dir=str(tmp_path / sub),
                               overrides={"batch_size": "8", **over}))


def _candidates(result) -> list[dict]:
    path = Path(result.run_dir) / "candidates.csv"
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_darts_space_samples_candidates_and_picks_the_best_scored(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    r = _run(tmp_path, "synflow", "darts", n_archs="3")
    rows = _candidates(r)
    assert len(rows) == 3 and len({row["arch"] for row in rows}) == 3
    scores = [float(row["score"]) for row in rows]
    assert all(float(row["score"]) == float(row["synflow"]) for row in rows)
    picked = [row for row in rows if row["picked"] == "1"]
    assert len(picked) == 1 and float(picked[0]["score"]) == max(scores)
    assert r.chosen["arch"] == picked[0]["arch"] and r.n_evaluated == 3 and r.ranking == {}
    assert r.extra["search/chosen/synflow"] == max(scores)
    assert r.extra["search/chosen/madds_M"] == pytest.approx(float(picked[0]["madds_M"]))
    assert r.protocol["strategy"] == "sample" and "DARTS network 8 channels, 5 cells" in r.protocol["network"]
    # same seed, fresh cache: the same candidates, values and pick; another seed draws other candidates
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache2"))
    again = _run(tmp_path, "synflow", "darts", n_archs="3", sub="again")
    assert _candidates(again) == rows and again.costs["proxies_from_cache"] == 0
    other = _run(tmp_path, "snip", "darts", n_archs="3", seed=1, sub="s1")
    assert {row["arch"] for row in _candidates(other)} != {row["arch"] for row in rows}
    # another proxy method with the same settings reads every candidate from the cache
    snip = _run(tmp_path, "snip", "darts", n_archs="3", sub="snip")
    assert snip.costs["proxies_from_cache"] == 3
    assert [row["snip"] for row in _candidates(snip)] == [row["snip"] for row in rows]


def test_darts_space_pick_is_what_train_derived_trains(tmp_path, monkeypatch):
    """The wiring: the pick goes to the trainer and its accuracy becomes the run's truth (the training itself is
    tested with the differentiable methods' --train-derived; the real thing runs in the slow test below)."""
    from nasharness import train

    seen = []

    def fake(genotype, config, ctx):
        seen.append(genotype)
        return {"truth": {"cifar10/test@1": 42.5}, "metrics": {"train_derived/params": 1.0},
                "note": "derived network trained from scratch: (fake)"}

    monkeypatch.setattr(train, "train_derived", fake)
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    r = _run(tmp_path, "jacov", "darts", n_archs="2", train_derived="true")
    assert len(seen) == 1 and repr(seen[0]) == r.chosen["arch"]
    assert r.truth == {"cifar10/test@1": 42.5} and r.protocol["final"] == "cifar10/test@1"
    assert "the pick: derived network trained from scratch: (fake)" in r.notes


@pytest.mark.slow
def test_darts_space_pick_trained_from_scratch_gives_the_run_a_truth(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    r = _run(tmp_path, "jacov", "darts", n_archs="2", train_derived="true")
    assert list(r.truth) == ["cifar10/test@1"] and 0 <= r.truth["cifar10/test@1"] <= 100
    assert r.protocol["final"] == "cifar10/test@1" and r.extra["train_derived/params"] > 0
    assert any(n.startswith("the pick: derived network trained from scratch") for n in r.notes)


def test_darts_space_nsga2_pick_respects_the_madds_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    r = _run(tmp_path, "naswot", "darts", strategy="nsga2", population="2", n_archs="4", max_madds="1000M")
    rows = _candidates(r)
    assert r.protocol["population"] == 2 and r.protocol["generations"] == 1
    assert 2 < len(rows) <= 4 and r.n_evaluated == len(rows)
    ok = [row for row in rows if float(row["madds_M"]) <= 1000 and np.isfinite(float(row["score"]))]
    picked = next(row for row in rows if row["picked"] == "1")
    assert picked in ok and float(picked["score"]) == max(float(row["score"]) for row in ok)
    assert [t["step"] for t in r.trajectory if "search/generation" in t] == [1]


@pytest.mark.integration
def test_imagenet_space_zc_vote_runs_nsga2_and_votes_over_the_candidates(tmp_path, monkeypatch, data_dir):
    from nasharness.zc import VOTE_PROXIES, vote

    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    r = _run(tmp_path, "zc-vote", "scarlet-imagenet", population="2", n_archs="4")
    rows = _candidates(r)
    assert r.protocol["strategy"] == "nsga2" and "64x64" in r.protocol["network"]
    assert any("1 x 8 ImageNet training images" in n for n in r.notes)
    votes = vote({p: np.array([float(row[p]) for row in rows]) for p in VOTE_PROXIES})
    assert [float(row["score"]) for row in rows] == pytest.approx(list(votes))
    picked = next(row for row in rows if row["picked"] == "1")
    assert float(picked["score"]) == pytest.approx(votes.max()) and r.chosen["arch"] == picked["arch"]
    assert 0 < float(picked["params_M"]) < 20  # a 1000-class network of the SCARLET space at 224x224
    assert json.loads(r.protocol["zc"])["batch_size"] == 8


def test_settings_of_spaces_without_a_table_are_refused_on_a_table_and_the_reverse():
    for over, what in (({"strategy": "nsga2"}, "strategy"), ({"max_madds": "300"}, "max_madds")):
        with pytest.raises(ConfigError, match=what):
            nh.get_method("synflow")(nh.RunConfig(method="synflow", bench="201", overrides=over)).budget(
                _entry("201"), "cifar10")
    with pytest.raises(ConfigError, match="strategy must be one of sample, nsga2"):
        nh.get_method("synflow")(nh.RunConfig(method="synflow", bench="darts", overrides={"strategy": "grid"}))
    with pytest.raises(ConfigError, match="trains-derived"):
        nh.get_method("snip")(nh.RunConfig(method="snip", bench="fairnas-imagenet", dataset="imagenet",
                                           overrides={"train_derived": "true"})).budget(
            _entry("fairnas-imagenet"), "imagenet")
    with pytest.raises(UserError, match="channels"):  # the MobileNet-style networks have a fixed width
        m = nh.get_method("snip")(nh.RunConfig(method="snip", bench="fairnas-imagenet", dataset="imagenet",
                                               overrides={"channels": "8"}))
        m.shape(_entry("fairnas-imagenet"))


def test_the_ci_suite_leaves_the_darts_space_to_its_supernet_methods():
    from nasharness.suite import SuiteConfig, load_suite

    suite = load_suite(Path(__file__).parents[2] / "benchmarks" / "ci.yaml")
    cells, skipped = suite.cells()
    darts_methods = {c.method for c in cells if c.bench == "darts"}
    assert darts_methods == {"darts", "fairdarts"}
    assert "synflow x darts (excluded by the suite)" in skipped
    assert {c.method for c in cells if c.bench == "201"} >= {"synflow", "zc-vote", "spos"}
    for exclude, msg in (({"101": ["synflow"]}, "does not run"), ({"darts": ["kind:nope"]}, "no method is of kind"),
                         ({"darts": "synflow"}, "must map benchmark names to lists")):
        with pytest.raises((ConfigError, UserError), match=msg):
            SuiteConfig(suite="x", benchmarks={"darts": ("cifar10",)}, exclude=exclude).cells()
