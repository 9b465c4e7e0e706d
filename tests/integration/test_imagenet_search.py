"""One-shot search on the FairNAS / SCARLET ImageNet spaces: supernet training on the shared 10-class subset, NSGA-II
over (accuracy, MAdds), the Pareto front artifacts and the pick by a MAdds constraint."""

import csv

import numpy as np
import pytest

import nasharness as nh
from nasharness.search.nsga2 import non_dominated_sort
from nasharness.spaces import mobilenet as ms
from nasharness.supernet.mobilenet import MobileNetwork, count_madds, count_params
from nasharness.weightsharing.mobile import CostTable, parse_madds

pytestmark = pytest.mark.integration

TINY = {"epochs": "1", "batch_size": "32", "resolution": "32", "train_per_class": "8", "val_per_class": "4",
        "nsga_population": "4", "nsga_generations": "1", "calib_batches": "1", "calib_batch_size": "32",
        "threads": "1"}


@pytest.mark.parametrize("space", [ms.FAIRNAS, ms.SCARLET], ids=["fairnas", "scarlet"])
def test_cost_table_equals_counting_the_network(space):
    table, rng = CostTable(space), np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        net = MobileNetwork(space, arch)
        path = space.to_path(arch)
        assert table.madds(path) == count_madds(net) and table.params(path) == count_params(net)


def test_parse_madds():
    assert parse_madds("350M") == 350 and parse_madds("0.35G") == 350 and parse_madds(400) == 400
    with pytest.raises(nh.UserError, match="like 350M"):
        parse_madds("lots")


@pytest.mark.parametrize("method, bench", [("fairnas", "fairnas-imagenet"), ("scarlet", "scarlet-imagenet")])
def test_search_on_the_shared_subset(tmp_path, data_dir, method, bench):
    r = nh.run(nh.RunConfig(method=method, bench=bench, out_dir=str(tmp_path), tracking=False, device="cpu",
                            overrides={**TINY, "max_madds": "1000M"}))
    space = ms.SPACES[bench.split("-")[0]]
    assert space.validate(r.chosen["arch"]) == r.chosen["arch"] and r.ranking == {}
    run_dir = tmp_path / r.run_dir.split("/")[-1]
    with open(run_dir / "pareto_front.csv") as f:
        rows = list(csv.DictReader(f))
    objs = np.array([(-float(x["supernet_acc"]), float(x["madds_M@224"])) for x in rows])
    assert non_dominated_sort(objs)[0] == list(range(len(rows)))  # the table is a Pareto front
    best = max(rows, key=lambda x: float(x["supernet_acc"]))
    assert r.chosen["arch"] == best["arch"]  # 1000M constrains nothing: the most accurate
    assert r.extra["search/chosen/madds_M@224"] == pytest.approx(count_madds(MobileNetwork(space, best["arch"])) / 1e6)
    assert (run_dir / "pareto_front.png").exists()
    if method == "fairnas":
        assert r.extra["train/min_op_updates"] >= 1  # every choice of every layer was trained

    tight = nh.run(nh.RunConfig(method=method, bench=bench, out_dir=str(tmp_path / "tight"), tracking=False,
                                device="cpu", overrides={**TINY, "max_madds": "60M"}))
    assert any("meets max_madds" in n for n in tight.notes)  # no model of these spaces is that small


def test_latency_lookup_table_as_a_third_objective(tmp_path, data_dir):
    r = nh.run(nh.RunConfig(method="spos", bench="fairnas-imagenet", out_dir=str(tmp_path), tracking=False,
                            device="cpu", overrides={**TINY, "latency_objective": "true"}))
    with open(tmp_path / r.run_dir.split("/")[-1] / "pareto_front.csv") as f:
        rows = list(csv.DictReader(f))
    objs = np.array([(-float(x["supernet_acc"]), float(x["madds_M@224"]), float(x["latency_ms"])) for x in rows])
    assert (objs[:, 2] > 0).all() and non_dominated_sort(objs)[0] == list(range(len(rows)))
    assert r.extra["search/chosen/latency_ms_model"] > 0 and any("latency model" in n for n in r.notes)
