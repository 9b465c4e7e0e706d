"""The random-search baseline end to end on the real tables (library API)."""

import json

import numpy as np
import pytest

import nasharness as nh

pytestmark = pytest.mark.integration


def _run(tmp_path, **kw):
    cfg = nh.RunConfig(method=kw.pop("method", "random"), bench=kw.pop("bench", "201"), tracking=False,
                       out_dir=str(tmp_path), n_boot=kw.pop("n_boot", 50), **kw)
    return nh.run(cfg)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "ImageNet16-120"])
def test_nb201_all_datasets(tmp_path, nb201, dataset):
    r = _run(tmp_path, dataset=dataset)
    p = nb201.protocol(dataset)
    assert r.n_evaluated == 100 and r.protocol["final"] == p.final
    chosen = r.chosen["index"]
    assert r.truth[p.final] == nb201.query(chosen, p.final)
    assert r.regret[p.final] == pytest.approx(nb201.column(p.final).max() - r.truth[p.final])
    assert r.regret[p.final] >= 0
    kt = r.ranking[f"rank/{p.final}/kendall_tau"]
    assert kt["n"] == 100 and 0 < kt["value"] < 1 and kt["ci_low"] < kt["value"] < kt["ci_high"]
    assert r.costs["simulated_train_s"] > 0 and r.costs["peak_mem_mb"] > 0
    saved = json.loads((tmp_path / r.run_dir.split("/")[-1] / "result.json").read_text())
    assert saved["chosen"] == r.chosen and saved["ranking"] == r.ranking


def test_pick_is_the_best_proxy_among_the_evaluated(tmp_path, nb201):
    r = _run(tmp_path, max_archs=300)
    traj = r.trajectory
    assert len(traj) == 300
    proxy = nb201.column("cifar10-valid/x-valid@12")
    assert r.truth["cifar10-valid/x-valid@12"] == max(p["incumbent/cifar10-valid/x-valid@12"] for p in traj)
    assert r.chosen["index"] == traj[-1]["incumbent"]
    assert proxy[r.chosen["index"]] == r.truth["cifar10-valid/x-valid@12"]
    assert np.all(np.diff([p["sim_seconds"] for p in traj]) > 0)


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    a, b, c = (_run(tmp_path, seed=s) for s in (3, 3, 4))
    assert a.chosen == b.chosen and a.ranking == b.ranking and a.trajectory == b.trajectory
    assert a.trajectory != c.trajectory


def test_simulated_time_budget_is_respected(tmp_path):
    r = _run(tmp_path, max_sim_seconds=5000.0)
    assert 0 < r.costs["simulated_train_s"] <= 5000.0
    assert r.trajectory[-1]["sim_seconds"] == r.costs["simulated_train_s"]


def test_paper_budget_on_cifar10(tmp_path):
    r = _run(tmp_path, budget="paper", n_boot=0)
    assert r.protocol["budget"]["max_sim_seconds"] == 2e4
    assert r.costs["simulated_train_s"] <= 2e4 and r.n_evaluated > 100


def test_nb101_among_labeled_archs(tmp_path, nb101):
    r = _run(tmp_path, bench="101", max_archs=2000)
    assert r.n_evaluated == 1000  # the whole 12-epoch-labeled slice: exhaustive
    assert any("exhaustive" in n for n in r.notes) and any("1,342 of 423,624" in n for n in r.notes)
    assert r.protocol["final"] == "cifar10/val@108" and r.protocol["labeled_archs"] == 1000
    assert r.chosen["arch"] == nb101.key_of(r.chosen["index"])
