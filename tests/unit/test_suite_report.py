"""Suite files, the comparison aggregate and the regression verdicts, on hand-made inputs."""

from pathlib import Path

import pandas as pd
import pytest

from nasharness.api import supported_benchmarks
from nasharness.compare import aggregate, render
from nasharness.errors import ConfigError
from nasharness.plugins import METHODS, load_plugins
from nasharness.regression import (
    CROSS_ENV,
    EXACT_REL,
    band,
    compare_to_baseline,
    environment_note,
    failed,
    to_markdown,
)
from nasharness.suite import load_suite

BENCHMARKS_DIR = Path(__file__).parents[2] / "benchmarks"


@pytest.mark.parametrize("path", sorted(BENCHMARKS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_suite_file_loads_and_validates(path):
    suite = load_suite(path)
    cells, skipped = suite.cells()
    assert cells and len(suite.seeds) >= 2
    load_plugins()
    if suite.suite in ("ci", "paper"):
        assert {c.method for c in cells} == set(METHODS.names())  # every registered method runs somewhere
    for c in cells:
        assert c.bench in supported_benchmarks(METHODS.factory(c.method))
    assert all("only cifar10 images here" in s or "does not offer" in s or "excluded by the suite" in s
               for s in skipped)
    excluded = {s.split(" x ")[0] for s in skipped if "excluded by the suite" in s}
    assert all(METHODS.factory(m).kind == "zero-cost" for m in excluded), excluded  # ci.yaml: darts: [kind:zero-cost]


def test_ci_suite_covers_both_benchmarks_with_two_seeds():
    suite = load_suite(BENCHMARKS_DIR / "ci.yaml")
    cells, _ = suite.cells()
    assert suite.budget == "ci" and suite.seeds == (0, 1)
    assert {(c.method, c.bench) for c in cells} >= {(m, b) for m in ("spos", "fairnas", "scarlet", "random")
                                                    for b in ("201", "101")}
    assert {(c.method, c.bench) for c in cells} >= {(m, b) for m in ("darts", "fairdarts") for b in ("201", "darts")}


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, pattern", [
    ("suite: x\nseed: [0, 1]\n", r"unknown key\(s\) 'seed' \(did you mean 'seeds'\?\)"),
    ("suite: x\nmethods: [fairnass]\n", r"unknown method 'fairnass'.*fairnas"),
    ("suite: x\nbenchmarks: {'301': [cifar10]}\n", r"unknown benchmark '301'"),
    ("suite: x\nbenchmarks: {'101': [cifar100]}\n", r"no dataset 'cifar100'"),
    ("suite: x\nbudget: huge\n", r"unknown budget 'huge'"),
    ("suite: x\nseeds: [0, 0]\n", r"lists a seed twice"),
    ("suite: x\nseeds: []\n", r"non-empty list"),
    ("methods: [random]\n", r"no 'suite' name"),
    ("suite: x\nmethods: [random]\noverrides: {spos: {epochs: 2}}\n", r"does not run"),
    ("suite: x\nmethods: [spos]\nbenchmarks: {'201': [cifar100]}\n", r"no runnable cell"),
    ("suite: [x\n", r"not valid YAML"),
])
def test_suite_typos_are_clear_errors(tmp_path, text, pattern):
    with pytest.raises(Exception, match=pattern) as err:
        load_suite(_write(tmp_path, text))
    assert getattr(err.value, "exit_code", None) == 2  # a user error, not a crash


def _rec(method, seed, kt, regret=1.0, wall=10.0, bench="201", env="env-a"):
    return {"method": method, "bench": bench, "dataset": "cifar10", "budget": "ci", "seed": seed,
            "truth": "cifar10/ori-test@200", "kendall_tau": kt, "n_archs": 100, "spearman": kt,
            "precision@10": 0.5, "regret": regret, "chosen_acc": 94.0 - regret, "search_wall_s": wall,
            "total_wall_s": wall, "sim_train_s": 0.0, "peak_mem_mb": 500.0, "source": "", "env": env}


def test_aggregate_means_stds_and_seed_counts():
    t = aggregate([_rec("a", 0, 0.5), _rec("a", 1, 0.7), _rec("b", 0, 0.1)])
    a = t[t["method"] == "a"].iloc[0]
    assert a["n_seeds"] == 2 and a["seeds"] == "0,1"
    assert a["kendall_tau_mean"] == pytest.approx(0.6) and a["kendall_tau_std"] == pytest.approx(0.141421, 1e-4)
    assert t[t["method"] == "b"].iloc[0]["kendall_tau_std"] == 0.0
    assert "0.600 ± 0.141" in render(t, "md")
    again = pd.read_csv(__import__("io").StringIO(render(t, "csv")), dtype={"bench": str})
    assert list(again["method"]) == ["a", "b"]


def test_a_rerun_of_the_same_seed_counts_once():
    t = aggregate([_rec("a", 0, 0.1), _rec("a", 0, 0.5)])
    assert t.iloc[0]["n_seeds"] == 1 and t.iloc[0]["kendall_tau_mean"] == 0.5  # the newest


def test_noise_band_formula():
    assert band("kendall_tau", 0.5, 0.0, 0.0) == 0.05  # the floor
    assert band("kendall_tau", 0.5, 0.1, 0.1) == pytest.approx(0.2)  # 2 x pooled std
    assert band("search_wall_s", 100.0, 0.0, 0.0) == 50.0  # 50% of the baseline
    assert band("search_wall_s", 1.0, 0.0, 0.0) == 5.0  # at least 5 s


def test_bands_include_the_cross_environment_spread_only_across_environments():
    base = aggregate([_rec("spos", 0, 0.10, regret=3.0), _rec("spos", 1, 0.12, regret=3.0),
                      _rec("random", 0, 0.60), _rec("random", 1, 0.60)])
    moved = [_rec("spos", 0, 0.03, regret=5.5), _rec("spos", 1, 0.05, regret=5.5),  # KT -0.08, regret +2.5 pp
             _rec("random", 0, 0.50), _rec("random", 1, 0.50)]
    same = {(r.key[0], r.metric): r for r in compare_to_baseline(base, aggregate(moved))}
    assert same[("spos", "kendall_tau")].verdict == "REGRESSED" and same[("spos", "regret")].verdict == "REGRESSED"
    other = {(r.key[0], r.metric): r for r in compare_to_baseline(
        base, aggregate([{**r, "env": "env-b"} for r in moved]))}
    assert other[("spos", "kendall_tau")].band == CROSS_ENV["kendall_tau"]  # a trained method: the env spread
    assert other[("spos", "kendall_tau")].verdict == "ok" and other[("spos", "regret")].verdict == "ok"
    assert other[("random", "kendall_tau")].verdict == "REGRESSED"  # a tabular method must still match exactly
    assert "differs from the baseline" in environment_note(base, aggregate([{**r, "env": "env-b"} for r in moved]))
    assert "Same numeric environment" in environment_note(base, aggregate(moved))
    assert aggregate([_rec("a", 0, 0.5), _rec("a", 1, 0.5, env="env-b")]).iloc[0]["environments"] == "env-a,env-b"


def test_regression_verdicts():
    base = aggregate([_rec("a", 0, 0.50), _rec("a", 1, 0.52), _rec("b", 0, 0.3), _rec("b", 1, 0.3),
                      _rec("gone", 0, 0.3), _rec("gone", 1, 0.3)])
    # other seeds than the baseline's (2, 3): the noise bands apply, not exact reproduction
    cur = aggregate([_rec("a", 2, 0.30), _rec("a", 3, 0.32),  # KT -0.2: beyond 0.05 -> regressed
                     _rec("b", 2, 0.33, regret=3.0), _rec("b", 3, 0.31, regret=3.0),  # KT within band; regret +2 pp
                     _rec("new", 2, 0.1), _rec("new", 3, 0.1)])
    rows = compare_to_baseline(base, cur)
    verdict = {(r.key[0], r.metric): r.verdict for r in rows}
    assert verdict[("a", "kendall_tau")] == "REGRESSED" and verdict[("a", "regret")] == "ok"
    assert verdict[("b", "kendall_tau")] == "ok" and verdict[("b", "regret")] == "REGRESSED"
    assert verdict[("b", "chosen_acc")] == "REGRESSED"
    assert verdict[("gone", "(all)")] == "MISSING" and verdict[("new", "(all)")] == "new"
    assert verdict[("a", "spearman")] == "REGRESSED"  # (the records set spearman = KT)
    assert len(failed(rows)) == 5
    md = to_markdown(rows)
    assert "**REGRESSED**" in md and "5 regression(s)" in md
    improved = compare_to_baseline(cur, base)
    assert {(r.key[0], r.metric): r.verdict for r in improved}[("a", "kendall_tau")] == "improved"
    assert not failed(compare_to_baseline(base, base))


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, Exception) and ConfigError("x").exit_code == 2


def test_the_supernet_training_loss_catches_a_training_change_that_the_ranking_noise_hides():
    """At the ci budget a one-shot ranking moves by up to 0.1 between environments, so a real change hides in it;
    the final training loss is deterministic per seed and moves by at most 0.031 between environments."""
    def rec(seed, kt, loss, env):
        return {**_rec("spos", seed, kt, env=env), "train_loss": loss}
    base = aggregate([rec(0, -0.16, 1.942, "env-a"), rec(1, -0.27, 1.934, "env-a")])
    other_machine = aggregate([rec(0, -0.21, 1.961, "env-b"), rec(1, -0.33, 1.915, "env-b")])  # measured spreads
    broken = aggregate([rec(0, -0.12, 2.05, "env-b"), rec(1, -0.30, 2.07, "env-b")])  # e.g. a schedule bug
    assert not failed(compare_to_baseline(base, other_machine))
    verdict = {r.metric: r.verdict for r in compare_to_baseline(base, broken)}
    assert verdict["train_loss"] == "REGRESSED" and verdict["kendall_tau"] == "ok"
    assert band("train_loss", 1.94, 0.0, 0.0) == 0.05


def test_same_environment_and_seeds_must_reproduce_exactly():
    """In the same numeric environment a seed reproduces its numbers, so there the check catches what the noise band
    hides: measured at the ci budget, a 10% lower learning rate moved SPOS's final training loss by +0.006 (seed 0)
    and -0.001 (seed 1), Kendall tau by -0.03 / -0.05."""
    def rec(seed, kt, loss, env="env-a", wall=40.0):
        return {**_rec("spos", seed, kt, env=env, wall=wall), "train_loss": loss}
    base = aggregate([rec(0, -0.1778, 1.942411), rec(1, -0.3134, 1.933947)])
    again = aggregate([rec(0, -0.1778, 1.942411, wall=55.0), rec(1, -0.3134, 1.933947, wall=38.0)])
    assert not failed(compare_to_baseline(base, again))  # wall time is not exact: its own band
    lr_cut = aggregate([rec(0, -0.2086, 1.948596), rec(1, -0.3665, 1.932647)])
    verdict = {r.metric: (r.verdict, r.band) for r in compare_to_baseline(base, lr_cut)}
    assert verdict["train_loss"][0] == "REGRESSED" and verdict["kendall_tau"][0] == "REGRESSED"
    assert verdict["train_loss"][1] == pytest.approx(EXACT_REL * 1.94, rel=1e-3)
    # the baseline CSV's 6 significant digits are not a change
    rounded = aggregate([rec(0, -0.177800004, 1.9424113), rec(1, -0.31340001, 1.9339471)])
    assert not failed(compare_to_baseline(base, rounded))
    # the same change on another machine, or with other seeds, hides in the noise bands
    assert not failed(compare_to_baseline(base, aggregate([{**r, "env": "env-b"} for r in
                                                           [rec(0, -0.2086, 1.948596), rec(1, -0.3665, 1.932647)]])))
    assert not failed(compare_to_baseline(base, aggregate([rec(2, -0.2086, 1.948596), rec(3, -0.3665, 1.932647)])))
    assert "must reproduce" in environment_note(base, lr_cut)
