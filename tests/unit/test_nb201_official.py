"""The official NAS-Bench-201 / NATS-Bench converter, on small files written in the official structure.

The records mirror the real files field by field (checked against NATS-Bench's own three sample files): an
``ArchResults`` state dict per schedule, ``ResultsCount`` state dicts per (dataset, seed) with 0-based epoch dicts,
``train_times`` an OrderedDict, numpy scalars for params/latency, 200-epoch runs holding whole curves only where the
real ones do. Every value is a dyadic fraction, so sums and seed means are exact and compared with ``==``.
"""

from __future__ import annotations

import bz2
import itertools
import json
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nasharness.errors import DataError
from nasharness.io import sha256_file
from nasharness.spaces import nb201 as space
from nasharness.tabular import nb201_official as off
from nasharness.tabular.cache import read_table
from nasharness.tabular.nb201 import NB201

ARCHS = [
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
DS_OFF = {"cifar10-valid": 0.0, "cifar10": 1.0, "cifar100": -20.0, "ImageNet16-120": -30.0}
SPLIT_OFF = {"train": 6.0, "x-valid": 0.0, "x-test": 2.0, "ori-test": 4.0}
SEED_OFF = {111: 0.25, 777: 0.5, 888: 1.0, 999: 1.5}
EVAL_NAMES = {"cifar10-valid": ["x-valid", "ori-test"], "cifar10": ["ori-test"],
              "cifar100": ["ori-test", "x-valid", "x-test"], "ImageNet16-120": ["ori-test", "x-valid", "x-test"]}
#: Splits whose accuracy/loss the real 200-epoch records keep for every epoch (the others: only the last).
CURVES_200 = {"cifar10-valid": {"x-valid"}, "cifar10": {"ori-test"}, "cifar100": {"ori-test"},
              "ImageNet16-120": {"ori-test"}}


def acc(a, ds, split, seed, e, s):  # e: the file's 0-based epoch
    return 40.0 + 10 * a + DS_OFF[ds] + SPLIT_OFF[split] + SEED_OFF[seed] + 0.125 * e + (0.0625 if s == 12 else 0)


def loss(a, ds, split, seed, e, s):
    return 2.0 + 0.5 * a + SEED_OFF[seed] + SPLIT_OFF[split] / 8 - 0.0078125 * e


def train_time(a, ds):  # seconds per epoch (the real files hold one estimate repeated)
    return 2.5 + a + {"cifar10-valid": 0.0, "cifar10": 2.0, "cifar100": 2.0, "ImageNet16-120": 12.0}[ds]


def eval_time(a, split):
    return 0.25 + 0.125 * a + (0.5 if split == "ori-test" else 0.0)


def seeds_of(a, ds, s):
    if s == 12:
        return [111, 777] if ds == "cifar10-valid" else [111]
    return [777, 888] if a == 1 else [777, 888, 999]


def results_count(a, ds, seed, s, keys=None, names=None):
    arch = ARCHS[a]
    key = keys or (lambda split, e: f"{split}@{e}")
    splits = names[ds] if names else list(EVAL_NAMES[ds])
    accs, losses, times = {}, {}, {}
    for split in splits:
        epochs = range(s) if s == 12 or split in CURVES_200[ds] else [s - 1]
        for e in epochs:
            accs[key(split, e)] = acc(a, ds, split, seed, e, s)
            losses[key(split, e)] = loss(a, ds, split, seed, e, s)
        for e in range(s):
            times[key(split, e)] = eval_time(a, split)
    return {
        "name": ds,
        "train_acc1es": {e: acc(a, ds, "train", seed, e, s) for e in range(s)},
        "train_acc5es": {e: 90.0 + 0.25 * e for e in range(s)} if s == 12 else None,
        "train_losses": {e: loss(a, ds, "train", seed, e, s) for e in range(s)},
        "train_times": OrderedDict((e, train_time(a, ds)) for e in range(s)),
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": CLASSES[ds]},
        "params": np.float64(space.n_params(arch, CLASSES[ds]) / 1e6 + (0.25 if seed == 888 else 0.0)),
        "flop": 15.5 + a,
        "seed": f"{seed:04d}",
        "epochs": s,
        "latency": [np.float64(0.015625 * (a + 1))],
        "eval_names": splits,
        "eval_acc1es": accs,
        "eval_times": times,
        "eval_losses": losses,
        "net_state_dict": None,
    }


def record(a, s, **kw):
    runs, seeds = {}, {}
    for ds in CLASSES:
        seeds[ds] = seeds_of(a, ds, s)
        for seed in reversed(seeds[ds]):
            runs[(ds, seed)] = results_count(a, ds, seed, s, **kw)
    return {"arch_index": a, "arch_str": ARCHS[a], "all_results": runs, "dataset_seed": seeds,
            "clear_net_done": True}


def pth_layout(n=3, **kw):
    return {"meta_archs": ARCHS[:n], "total_archs": n,
            "arch2infos": {a: {"full": record(a, 200, **kw), "less": record(a, 12, **kw)} for a in range(n)},
            "evaluated_indexes": list(range(n))}


def write_nats(root: Path, recs: dict, meta_archs=ARCHS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with bz2.open(root / "meta.pickle.pbz2", "wb") as f:
        pickle.dump({"meta_archs": list(meta_archs), "total_archs": len(meta_archs), "arch2infos": None,
                     "evaluated_indexes": set()}, f, protocol=4)
    for a, hps in recs.items():
        with bz2.open(root / f"{a:06d}.pickle.pbz2", "wb") as f:
            pickle.dump(hps, f, protocol=4)
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("official")
    torch.save(pth_layout(), d / "v1_1.pth")
    torch.save(pth_layout(), d / "legacy.pth", _use_new_zipfile_serialization=False)
    write_nats(d / "NATS-tss-v1_0-3ffb9-simple",
               {a: {"12": record(a, 12), "200": record(a, 200)} for a in range(3)})
    return d


@pytest.fixture(scope="module")
def table(files):
    return off.convert_official(files / "v1_1.pth", allow_partial=True)


# ---- values ----------------------------------------------------------------------------------------------------
def test_rows_index_arch_and_derived_columns(table):
    assert list(table["index"]) == [0, 1, 2] and table["index"].dtype == np.int64
    assert list(table["arch"]) == ARCHS
    assert list(table["unique_str"]) == [space.canonical_string(a) for a in ARCHS]
    assert list(table["connected"]) == [space.output_connected(a) for a in ARCHS]
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        assert list(table[f"params/{ds}"]) == [space.n_params(a, CLASSES[ds]) for a in ARCHS]


def test_final_accuracies_seed_means_and_per_seed(table):
    for a in range(3):
        seeds = seeds_of(a, "cifar10-valid", 200)
        vals = [acc(a, "cifar10-valid", "x-valid", s, 199, 200) for s in seeds]
        assert table["cifar10-valid/x-valid@200"][a] == np.mean(vals)
        for s, v in zip(seeds, vals, strict=True):
            assert table[f"cifar10-valid/x-valid@200/seed{s}"][a] == v
        assert table["cifar10-valid/x-valid@200/n_seeds"][a] == len(seeds)
        assert table["cifar10/ori-test@200"][a] == np.mean([acc(a, "cifar10", "ori-test", s, 199, 200) for s in seeds])
        assert table["cifar100/x-test@200"][a] == np.mean([acc(a, "cifar100", "x-test", s, 199, 200) for s in seeds])
        assert table["ImageNet16-120/ori-test-loss@200"][a] == np.mean(
            [loss(a, "ImageNet16-120", "ori-test", s, 199, 200) for s in seeds])
    assert table["cifar10-valid/x-valid@200"][0] == acc(0, "cifar10-valid", "x-valid", 888, 199, 200)  # mean of 3
    assert np.isnan(table["cifar10-valid/x-valid@200/seed999"][1])  # arch 1 has two seeds
    assert table["cifar10-valid/x-valid@200"][1] == (acc(1, "cifar10-valid", "x-valid", 777, 199, 200) + acc(
        1, "cifar10-valid", "x-valid", 888, 199, 200)) / 2
    assert table["cifar10-valid/x-valid@200/n_seeds"].dtype == np.int64


def test_epochs_are_one_based(table):
    # the file's epoch 0 is column :e1, its 199 the plain @200; no :e0 and no :e200
    assert table["cifar10-valid/x-valid@200:e1"][0] == acc(0, "cifar10-valid", "x-valid", 888, 0, 200)
    assert table["cifar10-valid/x-valid@200:e12"][0] == acc(0, "cifar10-valid", "x-valid", 888, 11, 200)
    assert table["cifar10-valid/x-valid@200:e199"][0] == acc(0, "cifar10-valid", "x-valid", 888, 198, 200)
    assert "cifar10-valid/x-valid@200:e0" not in table and "cifar10-valid/x-valid@200:e200" not in table
    curve = off.curve_columns("cifar10-valid", "x-valid")
    assert len(curve) == 200 and curve[-1] == "cifar10-valid/x-valid@200" and curve[0].endswith("@200:e1")
    assert table[curve].loc[0].tolist() == [acc(0, "cifar10-valid", "x-valid", 888, e, 200) for e in range(200)]
    seed_curve = off.curve_columns("cifar10", "train", "loss", 200, seed=999)
    assert table[seed_curve].loc[2].tolist() == [loss(2, "cifar10", "train", 999, e, 200) for e in range(200)]


def test_twelve_epoch_schedule_does_not_collide_with_epoch_12_of_200(table):
    twelve = table["cifar10-valid/x-valid@12"][0]
    assert twelve == np.mean([acc(0, "cifar10-valid", "x-valid", s, 11, 12) for s in (111, 777)])
    assert table["cifar10-valid/x-valid@12/seed111"][0] == acc(0, "cifar10-valid", "x-valid", 111, 11, 12)
    assert table["cifar10-valid/x-valid@12/n_seeds"][0] == 2
    assert table["cifar10-valid/x-valid@200:e12"][0] != twelve
    assert table["cifar10-valid/x-valid@12:e1"][0] == np.mean(
        [acc(0, "cifar10-valid", "x-valid", s, 0, 12) for s in (111, 777)])
    assert table["cifar100/x-valid@12"][2] == acc(2, "cifar100", "x-valid", 111, 11, 12)
    assert table["cifar10/train-top5@12:e3"][1] == 90.5 and "cifar10/train-top5@200" not in table


def test_splits_the_200_epoch_records_hold_only_at_the_end(table):
    assert table["cifar100/x-valid@200"][0] == np.mean([acc(0, "cifar100", "x-valid", s, 199, 200)
                                                        for s in (777, 888, 999)])
    assert "cifar100/x-valid@200:e1" not in table and "cifar10-valid/ori-test@200:e199" not in table
    assert "cifar100/x-valid-time-s@200:e1" in table  # their times are per epoch


def test_train_time_is_total_seconds_and_cumulative_per_epoch(table):
    for a in range(3):
        assert table["cifar10-valid/train-time-s@200"][a] == 200 * train_time(a, "cifar10-valid")
        assert table["ImageNet16-120/train-time-s@200/seed777"][a] == 200 * train_time(a, "ImageNet16-120")
        assert table["cifar10-valid/train-time-s@200:e12"][a] == 12 * train_time(a, "cifar10-valid")
        assert table["cifar10-valid/train-time-s@12"][a] == 12 * train_time(a, "cifar10-valid")
        assert table["cifar100/ori-test-time-s@200"][a] == 200 * eval_time(a, "ori-test")
        assert table["cifar10-valid/x-valid-time-s@200:e1"][a] == eval_time(a, "x-valid")


def test_costs(table):
    for a in range(3):
        p = [space.n_params(ARCHS[a], 100) / 1e6 + (0.25 if s == 888 else 0.0) for s in seeds_of(a, "cifar100", 200)]
        assert table["raw/official-params-M/cifar100"][a] == np.mean(p)
        assert table["raw/official-params-M/cifar100/seed888"][a] == p[1]
        assert table["raw/official-params-M/cifar100@12"][a] == space.n_params(ARCHS[a], 100) / 1e6
        assert table["flops-M/ImageNet16-120"][a] == 15.5 + a
        assert table["official-latency-s/cifar10"][a] == 0.015625 * (a + 1)


def test_column_names_follow_the_scheme(table):
    cols = set(table.columns)
    assert len(cols) == len(table.columns)
    for c in cols - {"index", "arch", "unique_str", "unique_id", "connected"}:
        head = c.split("/seed")[0].removesuffix("/n_seeds")
        assert head.startswith(("params/", "flops-M/", "raw/official-params-M/", "official-latency-s/")) or (
            head.split("/")[0] in CLASSES and "@" in head), c
    assert {"cifar10-valid/x-valid@200", "cifar10/ori-test@200", "cifar100/x-test@200", "cifar100/ori-test@200",
            "ImageNet16-120/x-test@200", "cifar10-valid/x-valid@12", "cifar10/ori-test@12",
            "cifar10-valid/train-time-s@200", "cifar10-valid/x-valid@200/n_seeds"} <= cols


# ---- containers and formats ------------------------------------------------------------------------------------
def test_legacy_torch_container_and_nats_directory_give_the_same_table(files, table):
    pd.testing.assert_frame_equal(off.convert_official(files / "legacy.pth", allow_partial=True), table)
    seen = []
    nats = off.convert_official(files / "NATS-tss-v1_0-3ffb9-simple", progress=seen.append, allow_partial=True)
    pd.testing.assert_frame_equal(nats, table)
    assert seen == [1, 2, 3]


def test_progress_per_architecture_for_pth(files):
    seen = []
    off.convert_official(files / "v1_1.pth", progress=seen.append, allow_partial=True)
    assert seen == [1, 2, 3]


def test_objects_shared_across_architectures_resolve(tmp_path, table):
    # One pickle memoizes an object once and fetches it again later, here across records: the streaming reader
    # must keep exactly those alive. Share the epoch-key strings, the eval_names lists and one latency list.
    strings: dict = {}
    names = {ds: list(v) for ds, v in EVAL_NAMES.items()}
    obj = pth_layout(keys=lambda split, e: strings.setdefault((split, e), f"{split}@{e}"), names=names)
    lat = [np.float64(0.015625)]
    for hps in obj["arch2infos"].values():
        for rec in hps.values():
            for run in rec["all_results"].values():
                run["latency"] = lat
    torch.save(obj, tmp_path / "shared.pth")
    got = off.convert_official(tmp_path / "shared.pth", allow_partial=True)
    want = table.copy()
    for c in [c for c in want.columns if c.startswith("official-latency-s/")]:
        want[c] = np.where(want[c].isna(), np.nan, 0.015625)
    pd.testing.assert_frame_equal(got, want)


def test_plain_and_bz2_pickles_of_the_same_layout(tmp_path, table):
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump(pth_layout(), f, protocol=4)  # framed, MEMOIZE instead of BINPUT
    with bz2.open(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", "wb") as f:
        obj = pth_layout()
        obj["arch2infos"] = {a: {"12": v["less"], "200": v["full"]} for a, v in obj["arch2infos"].items()}
        pickle.dump(obj, f, protocol=4)
    for p in (tmp_path / "plain.pkl", tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"):
        pd.testing.assert_frame_equal(off.convert_official(p, allow_partial=True), table)


# ---- refusals and errors ---------------------------------------------------------------------------------------
class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("how", ["zip", "legacy", "pickle4", "nats"])
def test_a_pickle_calling_os_system_is_refused(tmp_path, how):
    marker = tmp_path / "pwned"
    obj = {"meta_archs": ARCHS[:1], "arch2infos": {0: {"full": Evil(marker)}}, "evaluated_indexes": [0]}
    path = tmp_path / "evil.pth"
    if how == "zip":
        torch.save(obj, path)
    elif how == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    elif how == "pickle4":
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        path = write_nats(tmp_path / "dir", {0: {"200": Evil(marker)}}, ARCHS[:1])
    with pytest.raises(DataError, match=r"refus.*system") as err:
        off.convert_official(path, allow_partial=True)
    assert "run code" in str(err.value)
    assert not marker.exists()


def test_missing_path_and_unrecognised_layouts(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        off.convert_official(tmp_path / "NAS-Bench-201-v1_1-096897.pth")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="neither a torch .pth"):
        off.convert_official(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="without the NATS-Bench layout"):
        off.convert_official(tmp_path / "empty")
    torch.save({"something": 1}, tmp_path / "other.pth")
    with pytest.raises(DataError, match="does not hold the NAS-Bench-201 layout"):
        off.convert_official(tmp_path / "other.pth", allow_partial=True)


def test_wrong_number_of_architectures_needs_allow_partial(files):
    with pytest.raises(DataError, match=r"lists 3 architectures .* expected 15,625"):
        off.convert_official(files / "v1_1.pth")
    with pytest.raises(DataError, match=r"lists 3 architectures"):
        off.convert_official(files / "NATS-tss-v1_0-3ffb9-simple")


def test_missing_architectures_in_a_full_length_arch_list(tmp_path):
    every = [space.format_arch(ops) for ops in itertools.product(space.OPS, repeat=6)]
    every.remove(ARCHS[0])
    obj = pth_layout(1)
    obj["meta_archs"] = [ARCHS[0], *every]  # 15,625 strings, results for index 0 only
    torch.save(obj, tmp_path / "one.pth")
    with pytest.raises(DataError, match=r"results for 1 of the 15,625 architectures \(index 1 is the first missing"):
        off.convert_official(tmp_path / "one.pth")
    assert len(off.convert_official(tmp_path / "one.pth", allow_partial=True)) == 1


@pytest.mark.parametrize("name", ["v1_1.pth", "legacy.pth"])
def test_truncated_pth_is_a_data_error(files, tmp_path, name):
    data = (files / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="damaged|truncated"):
        off.convert_official(cut, allow_partial=True)


def test_damaged_nats_file_is_a_data_error(files, tmp_path):
    import shutil

    d = tmp_path / "nats"
    shutil.copytree(files / "NATS-tss-v1_0-3ffb9-simple", d)
    blob = (d / "000001.pickle.pbz2").read_bytes()
    (d / "000001.pickle.pbz2").write_bytes(blob[:100] + b"\0" * 50 + blob[150:])
    with pytest.raises(DataError, match=r"000001\.pickle\.pbz2.*(truncated|corrupt)"):
        off.convert_official(d, allow_partial=True)


def test_record_of_another_arch_is_a_data_error(tmp_path):
    obj = pth_layout()
    obj["meta_archs"] = [ARCHS[0], ARCHS[2], ARCHS[1]]
    torch.save(obj, tmp_path / "swapped.pth")
    with pytest.raises(DataError, match="index 1"):
        off.convert_official(tmp_path / "swapped.pth", allow_partial=True)


# ---- merge with the existing table and the cache -----------------------------------------------------------------
def base_table(n_rows=3):
    return pd.DataFrame({
        "index": np.arange(n_rows, dtype=np.int64),
        "arch": ARCHS[:n_rows],
        "cifar10/ori-test@200": [1.0] * n_rows,  # the official value wins
        "latency-ms/pixel3": [10.0 * i for i in range(n_rows)],
        "raw/ctpe-params-M/cifar10": [0.5] * n_rows,
    })


def test_merge_with_base_adds_only_missing_columns(table):
    merged, added = off.merge_base(table, base_table())
    assert added == ["latency-ms/pixel3", "raw/ctpe-params-M/cifar10"]
    assert list(merged["latency-ms/pixel3"]) == [0.0, 10.0, 20.0]
    pd.testing.assert_series_equal(merged["cifar10/ori-test@200"], table["cifar10/ori-test@200"])
    sub = table.iloc[[2]].reset_index(drop=True)  # aligned by index, not by position
    merged, _ = off.merge_base(sub, base_table())
    assert merged["latency-ms/pixel3"].tolist() == [20.0]


def test_merge_with_a_base_in_another_order_is_refused(table):
    base = base_table()
    base.loc[1, "arch"] = ARCHS[2]
    with pytest.raises(DataError, match=r"disagree on the architecture at index 1"):
        off.merge_base(table, base)
    with pytest.raises(DataError, match="no row for official index 2"):
        off.merge_base(table, base_table(2))


def test_prepare_writes_an_atomic_cache_with_matching_sidecar(files, table, tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    meta = off.prepare_official(files / "v1_1.pth", base=base_table(), allow_partial=True)
    table_path, meta_path = off.official_table_paths()
    assert table_path == tmp_path / "cache" / "nb201-official.parquet" and meta_path.name == "nb201-official.json"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["nb201-official.json",
                                                                      "nb201-official.parquet"]  # no temp files
    on_disk = json.loads(meta_path.read_text())
    assert on_disk == meta and meta["table_sha256"] == sha256_file(table_path)
    assert meta["name"] == "nb201-official" and meta["format_version"] == off.FORMAT_VERSION
    assert meta["sources"]["official"] == {"path": str(files / "v1_1.pth"), "kind": "torch zip",
                                           "sha256": sha256_file(files / "v1_1.pth")}
    assert meta["n_rows"] == 3 and meta["base_columns"] == ["latency-ms/pixel3", "raw/ctpe-params-M/cifar10"]
    back = read_table(table_path, "nb201-official")
    assert meta["columns"] == list(back.columns)
    pd.testing.assert_frame_equal(back[list(table.columns)], table)
    bench = NB201(*off.load_official())
    assert bench.size == 3 and bench.index_of(ARCHS[1]) == 1

    meta = off.prepare_official(files / "NATS-tss-v1_0-3ffb9-simple", allow_partial=True)
    src = meta["sources"]["official"]
    assert src["kind"] == "nats simple directory" and src["sha256"] == off.source_sha256(
        files / "NATS-tss-v1_0-3ffb9-simple") and len(src["sha256"]) == 64
    assert meta["table_sha256"] == sha256_file(table_path)
