"""The official NAS-Bench-201 / NATS-Bench (topology) files as one table: every value they hold, one row per cell.

Accepted sources (``convert_official`` tells them apart by content, not by name):

* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth``: one ``torch.save`` pickle, in either
  torch container (the zip archive, or the older "legacy" stream that files saved before torch 1.6 use), of
  ``{'meta_archs': [15,625 arch strings], 'total_archs', 'arch2infos': {index: {'full': record, 'less': record}},
  'evaluated_indexes'}``; ``full`` is the 200-epoch schedule, ``less`` the 12-epoch one.
* ``NATS-tss-v1_0-3ffb9-simple/``: ``meta.pickle.pbz2`` (``meta_archs``) and one ``<index>.pickle.pbz2`` per cell
  (zero-padded ``000011`` or plain ``11``) holding ``{'12': record, '200': record}``.
* (also) the single-file ``NATS-tss-v1_0-3ffb9.pickle.pbz2``, which has the ``.pth`` layout with ``'12'/'200'`` keys.

A *record* is an ``ArchResults`` state dict (``arch_index``, ``arch_str``, ``dataset_seed``, ``all_results``);
``all_results[(dataset, seed)]`` is a ``ResultsCount`` state dict holding per-epoch dicts ``train_acc1es``,
``train_acc5es``, ``train_losses``, ``train_times`` (epoch -> value) and ``eval_acc1es``, ``eval_losses``,
``eval_times`` (``'<split>@<epoch>'`` -> value), plus ``params``, ``flop``, ``latency``, ``epochs``. Epochs in these
dicts are **0-based** (``ori-test@199`` is the last of 200 epochs). Nothing is unpickled beyond plain containers and
numpy scalars (:func:`nasharness.io.results_global`); anything else, e.g. ``os.system``, is a :class:`DataError`.

Column naming (``S`` = the schedule's length in epochs, 200 or 12; ``E`` = **1-based** epoch, 1..S):

* ``index`` (int64; row i is official index i for the full files), ``arch`` (official string), ``unique_str``,
  ``unique_id``, ``connected``, ``params/<cifar10|cifar100|ImageNet16-120>`` (computed from the arch string exactly
  as in :mod:`.nb201`).
* ``<dataset>/<split><kind>@S`` is the value **after the last epoch of the S-epoch schedule**, and
  ``<dataset>/<split><kind>@S:e<E>`` the value after epoch E < S **of that same run** (raw key ``E-1``). So
  ``cifar10-valid/x-valid@12`` is the final value of the 12-epoch schedule, ``cifar10-valid/x-valid@200:e12`` is
  epoch 12 of the 200-epoch run, and ``@200`` its epoch 200 (raw 199); there is no ``:e0`` and no ``:e<S>`` column.
  :func:`curve_columns` lists a whole curve in epoch order.

  - ``<dataset>``: ``cifar10-valid`` (trained on the 25k train half), ``cifar10`` (trained on all 50k),
    ``cifar100``, ``ImageNet16-120``.
  - ``<split>``: ``train`` or an evaluation key exactly as the file names it (``x-valid``, ``x-test``,
    ``ori-test``; ``ori-test`` of cifar100/ImageNet16-120 is the whole test set, ``x-valid``/``x-test`` its halves).
  - ``<kind>``: none for top-1 accuracy in **percent**; ``-loss``; ``-top5`` (train top-5 %, 12-epoch runs only);
    ``-time-s``: **cumulative** seconds from the start of training through that epoch, i.e. the official
    ``train-all-time`` / ``valid-all-time`` (the sum of the per-epoch times), so ``cifar10-valid/train-time-s@200``
    is the total training time of the 200-epoch run, the meaning :mod:`.nb201` gives it.
* Seeds: the plain name is the mean over the seeds that hold the value (the official ``is_random=False``:
  ``np.mean`` in ascending seed order); ``…/seed<k>`` is seed k's own value (NaN where that seed was not run);
  ``<final accuracy column>/n_seeds`` (int64, e.g. ``cifar10-valid/x-valid@200/n_seeds``) counts the seeds.
* Costs, per dataset, from the 200-epoch records (``@12`` suffix: from the 12-epoch records), mean and
  ``/seed<k>`` like the metrics: ``flops-M/<dataset>``, ``raw/official-params-M/<dataset>`` (the file's own count,
  off by one conv edge for ~150 cells, NATS-Bench#36; ``params/*`` is the trustworthy one) and
  ``official-latency-s/<dataset>`` (the mean of the record's latency list, seconds).

Values a file does not hold are absent (no column) or NaN (some rows/seeds). The 200-epoch records of v1.1 and
NATS-Bench hold whole curves for ``train``, ``cifar10-valid/x-valid``, ``cifar10/ori-test`` and
``cifar100|ImageNet16-120/ori-test``, but only final values for ``cifar10-valid/ori-test`` and the ``x-valid``/
``x-test`` halves (their times are per epoch); v1.0 has no times at all.

Memory: a ``.pth`` is a single pickle (4.7 GB for v1.1; ~29 GB as Python objects, which is what the official API
holds). It is read twice, streaming: a scan of the opcodes records which memo entries are fetched again and when
for the last time; the second read (a pure-Python unpickler) keeps only those entries, up to their last use, and turns
each record into a few compact float arrays the moment its dict is complete, so at most one record exists as Python
objects. A NATS directory is read file by file. See ``benchmarks/perf_official_nb201.py`` for the measured peak.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import mmap
import pickle
import pickletools
import re
import struct
import time
import zipfile
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import (
    NoGlobalsUnpickler,
    atomic_write_json,
    load_results_pickle,
    read_checked_sidecar,
    results_global,
    sha256_file,
)
from ..paths import cache_dir
from ..spaces import nb201 as space
from .cache import read_table, write_table

FORMAT_VERSION = 1
NAME = "nb201-official"
N = space.N_ARCHS
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
SPLITS = ("train", "x-valid", "x-test", "ori-test")
KINDS = {"acc": "", "top5": "-top5", "loss": "-loss", "time": "-time-s"}
COSTS = ("flops-M", "raw/official-params-M", "official-latency-s")
#: ``.pth`` record keys -> schedule length; NATS files key records by the length itself ('12', '200').
HP_KEYS = {"full": 200, "less": 12}
_TRAIN_FIELDS = (("train_acc1es", "acc"), ("train_acc5es", "top5"), ("train_losses", "loss"), ("train_times", "time"))
_EVAL_FIELDS = (("eval_acc1es", "acc"), ("eval_losses", "loss"), ("eval_times", "time"))
_RECORD_KEYS = ("arch_index", "arch_str", "all_results", "dataset_seed")
_SPLIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*(-[A-Za-z0-9_.]+)*$")
_ARCH_FILE_RE = re.compile(r"^(\d+)\.pickle\.pbz2$")
_FIX = (
    "Pass the official NAS-Bench-201-v1_1-096897.pth (or v1_0-e61699.pth) file or the NATS-tss-v1_0-3ffb9-simple "
    "directory, downloaded again if it is damaged."
)


def _bad(source: Any, what: str, fix: str = _FIX) -> DataError:
    return DataError(f"NAS-Bench-201 official source {str(source)!r} {what}. {fix}")


# ---- column names ---------------------------------------------------------------------------------------------------
def metric_name(dataset: str, split: str, kind: str = "acc", schedule: int = 200, epoch: int | None = None,
                seed: int | None = None) -> str:
    """The column of ``kind`` on ``split`` after 1-based ``epoch`` (None: the last) of the ``schedule``-epoch run."""
    name = f"{dataset}/{split}{KINDS[kind]}@{schedule}"
    if epoch is not None and epoch != schedule:
        name += f":e{epoch}"
    return name if seed is None else f"{name}/seed{seed}"


def curve_columns(dataset: str, split: str, kind: str = "acc", schedule: int = 200,
                  seed: int | None = None) -> list[str]:
    """The columns of one learning curve, epochs 1..schedule in order (the last one is the plain ``…@schedule``)."""
    return [metric_name(dataset, split, kind, schedule, e, seed) for e in range(1, schedule + 1)]


def _rank(seq: tuple[str, ...], x: str) -> tuple[int, str]:
    return (seq.index(x), x) if x in seq else (len(seq), x)


def _base_name(base: tuple) -> str:
    if base[0] == "m":
        _, s, ds, split, kind, e = base
        return metric_name(ds, split, kind, s, e)
    _, metric, ds, s = base
    return f"{metric}/{ds}" + ("" if s == 200 else f"@{s}")


def _sort_key(base: tuple) -> tuple:
    if base[0] == "m":
        _, s, ds, split, kind, e = base
        return (0, -s, _rank(DATASETS, ds), _rank(SPLITS, split), _rank(tuple(KINDS), kind), e)
    _, metric, ds, s = base
    return (1, _rank(COSTS, metric), _rank(DATASETS, ds), -s, (0, ""), 0)


# ---- records -> compact per-seed values -----------------------------------------------------------------------------
def _num(v: Any, source: Any, where: str) -> float:
    if v is None:
        return float("nan")
    if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)):
        return float(v)
    raise _bad(source, f"holds a non-numeric value {v!r} at {where}")


def _empty_fortran(rows: int, cols: int) -> np.ndarray:
    """An uninitialised float64 (rows, cols) column-major array whose pages become resident only where written.

    numpy asks for transparent huge pages on big allocations, so one write faults in 2 MB, i.e. whole columns of
    a 15,625-row table, and filling it row block by row block would make all of it resident at once. An anonymous
    mmap without huge pages fills gradually while the values it is filled from are being released."""
    size = max(8, rows * cols * 8)
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE) if hasattr(mmap, "MAP_PRIVATE") else mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        try:
            buf.madvise(mmap.MADV_NOHUGEPAGE)
        except OSError:
            pass
    return np.frombuffer(buf, np.float64, rows * cols).reshape((rows, cols), order="F")


class _Tape:
    """Append-only float64 storage in 64 MB chunks. A chunk is its own mmap, so dropping it once every record on it
    has been copied into the table gives the memory back to the system (small freed arrays would stay in the heap)."""

    CHUNK = 1 << 23

    def __init__(self):
        self.chunks: list[np.ndarray | None] = []
        self.users: list[int] = []
        self.fill = 0

    def put(self, vals: np.ndarray) -> tuple[int, int]:
        n = len(vals)
        if not self.chunks or self.fill + n > len(self.chunks[-1]):
            self.chunks.append(np.empty(max(self.CHUNK, n)))
            self.users.append(0)
            self.fill = 0
        c, off = len(self.chunks) - 1, self.fill
        self.chunks[c][off : off + n] = vals
        self.fill += n
        self.users[c] += 1
        return c, off

    def take(self, c: int, off: int, n: int) -> np.ndarray:
        """The values (a view); the caller copies them before the next take, which may release the chunk."""
        vals = self.chunks[c][off : off + n]
        self.users[c] -= 1
        if not self.users[c]:
            self.chunks[c] = None
        return vals


class _Builder:
    """Collects every record's values (on a :class:`_Tape`, with shared column-id arrays); builds the table."""

    def __init__(self, source: Any):
        self.source = source
        self.col: dict[tuple, int] = {}  # (base, seed) -> column id
        self.cols: list[tuple] = []
        self.tape = _Tape()
        self.pieces: dict[int, list[tuple[np.ndarray, int, int]]] = {}  # index -> [(column ids, chunk, offset)]
        self.arch: dict[int, str] = {}
        self._seen: set[tuple[int, int]] = set()
        self._layouts: dict[tuple, tuple] = {}
        self._combined: dict[tuple, tuple] = {}  # also holds the part ids arrays, so their id() stays unique

    def _bad(self, what: str) -> DataError:
        return _bad(self.source, what)

    def _j(self, base: tuple, seed: int) -> int:
        key = (base, seed)
        j = self.col.get(key)
        if j is None:
            j = self.col[key] = len(self.cols)
            self.cols.append(key)
        return j

    # -- one ArchResults state dict
    def add_record(self, rec: dict, where: str) -> tuple[int, int | None]:
        try:
            idx, arch, runs, seeds = (rec[k] for k in _RECORD_KEYS)
            idx = int(idx)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"has a record ({where}) without {', '.join(_RECORD_KEYS)}") from exc
        if not isinstance(arch, str) or not isinstance(runs, dict) or not isinstance(seeds, dict):
            raise self._bad(f"has a malformed record for index {idx} ({where})")
        try:
            listed = {(ds, int(s)) for ds, ss in seeds.items() for s in ss}
        except (TypeError, ValueError) as exc:
            raise self._bad(f"has a malformed dataset_seed for index {idx} ({where})") from exc
        if listed != set(runs):
            raise self._bad(f"lists runs {sorted(map(repr, listed))} for index {idx} ({where}) but holds "
                            f"{sorted(map(repr, runs))}")
        if self.arch.setdefault(idx, arch) != arch:
            raise self._bad(f"names index {idx} both {self.arch[idx]!r} and {arch!r}")
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        schedules = {self._run(idx, arch, ds, seed, runs[(ds, seed)], pieces, where) for ds, seed in runs}
        if pieces:  # one (ids, values) pair per record: the ids of a combination of layouts are built once
            key = tuple(id(ids) for ids, _ in pieces)
            hit = self._combined.get(key)
            if hit is None:
                hit = self._combined[key] = (np.concatenate([ids for ids, _ in pieces]), [ids for ids, _ in pieces])
            self.pieces.setdefault(idx, []).append((hit[0], *self.tape.put(np.concatenate([v for _, v in pieces]))))
        if len(schedules) > 1:
            raise self._bad(f"mixes schedules {sorted(schedules)} in one record of index {idx} ({where})")
        s = schedules.pop() if schedules else None
        if s is not None:
            if (idx, s) in self._seen:
                raise self._bad(f"holds two {s}-epoch records for index {idx}")
            self._seen.add((idx, s))
        return idx, s

    def _run(self, idx: int, arch: str, ds: Any, seed: Any, run: Any, pieces: list, where: str) -> int:
        w = f"index {idx} {ds} seed {seed} ({where})"
        if ds not in DATASETS or not isinstance(seed, int) or isinstance(seed, bool) or not isinstance(run, dict):
            raise self._bad(f"has a run keyed {(ds, seed)!r} for index {idx}; expected (one of {DATASETS}, seed)")
        try:
            s = int(run["epochs"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"has no epoch count for {w}") from exc
        if s < 1 or run.get("name", ds) != ds:
            raise self._bad(f"has an inconsistent run for {w} (epochs {s}, name {run.get('name')!r})")
        cfg = run.get("arch_config")
        if isinstance(cfg, dict):
            if cfg.get("arch_str", arch) != arch:
                raise self._bad(f"has run {w} for arch {cfg.get('arch_str')!r} inside the record of {arch!r}")
            nc = cfg.get("class_num")
            if nc is not None and int(nc) != space.N_CLASSES[ds]:
                raise self._bad(f"has run {w} with {nc} classes; {ds} has {space.N_CLASSES[ds]}")
        for field, kind in _TRAIN_FIELDS:
            self._piece(run.get(field), field, kind, ds, seed, s, pieces, w, train=True)
        for field, kind in _EVAL_FIELDS:
            self._piece(run.get(field), field, kind, ds, seed, s, pieces, w, train=False)
        ids = self._layouts.get(("cost", ds, seed, s))
        if ids is None:
            ids = np.array([self._j(("c", m, ds, s), seed) for m in COSTS], np.int64)
            self._layouts[("cost", ds, seed, s)] = ids
        lat = run.get("latency")
        if isinstance(lat, (list, tuple)):  # the official get_latency: the mean of the list
            lat = sum(_num(x, self.source, f"{w} latency") for x in lat) / len(lat) if lat else None
        vals = np.array([_num(run.get("flop"), self.source, f"{w} flop"),
                         _num(run.get("params"), self.source, f"{w} params"),
                         _num(lat, self.source, f"{w} latency")])
        pieces.append((ids, vals))
        return s

    def _piece(self, d: Any, field: str, kind: str, ds: str, seed: int, s: int, pieces: list, w: str,
               *, train: bool) -> None:
        if d is None:
            return
        if not isinstance(d, dict):
            raise self._bad(f"has {field} of type {type(d).__name__} for {w}; expected a dict")
        if not d:
            return
        keys = tuple(d)
        lay = self._layouts.get((field, ds, seed, s, keys))
        if lay is None:
            lay = self._layout(keys, field, kind, ds, seed, s, w, train)
            if len(self._layouts) > 20000:  # layouts repeat; a file whose layouts never do just rebuilds them
                self._layouts.clear()
                self._combined.clear()
            self._layouts[(field, ds, seed, s, keys)] = lay
        ids, order, segments = lay
        try:
            vals = np.fromiter(d.values(), np.float64, len(d))
        except (TypeError, ValueError):
            vals = np.array([_num(v, self.source, f"{w} {field}") for v in d.values()], np.float64)
        vals = vals[order]
        for a, b in segments:  # times: per-epoch seconds -> cumulative, as sum(times[0..e]) in the official API
            np.cumsum(vals[a:b], out=vals[a:b])
        pieces.append((ids, vals))

    def _layout(self, keys: tuple, field: str, kind: str, ds: str, seed: int, s: int, w: str, train: bool):
        entries = []
        for k in keys:
            if train:
                split, e = "train", k
            else:
                split, sep, e = k.rpartition("@") if isinstance(k, str) else ("", "", k)
                if not sep or not _SPLIT_RE.match(split) or split == "train" or split.endswith(
                        tuple(KINDS.values())[1:]):
                    raise self._bad(f"has an unreadable {field} key {k!r} for {w}; expected '<split>@<epoch>'")
                e = int(e) if e.isdigit() else -1
            if not isinstance(e, int) or isinstance(e, bool) or not 0 <= e < s:
                raise self._bad(f"has {field} key {k!r} for {w}, outside epochs 0..{s - 1}")
            entries.append((split, e))
        if len(set(entries)) != len(entries):
            raise self._bad(f"repeats an epoch in {field} for {w}")
        order = sorted(range(len(entries)), key=lambda i: (_rank(SPLITS, entries[i][0]), entries[i][1]))
        ids = np.array([self._j(("m", s, ds, entries[i][0], kind, entries[i][1] + 1), seed) for i in order], np.int64)
        segments = []
        if kind == "time":
            a = 0
            while a < len(order):
                split = entries[order[a]][0]
                b = a
                while b < len(order) and entries[order[b]][0] == split:
                    b += 1
                if [entries[order[i]][1] for i in range(a, b)] != list(range(b - a)):
                    raise self._bad(f"has {field} for {split} of {w} with gaps; cumulative times need epochs 0..k")
                segments.append((a, b))
                a = b
        return ids, np.array(order, np.intp), segments

    # -- the table
    def table(self, rows: list[int], archs: list[str]) -> pd.DataFrame:
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for j, (base, seed) in enumerate(self.cols):
            groups.setdefault(base, []).append((seed, j))
        names: list[str] = []
        pos_of = np.zeros(len(self.cols), np.int64)
        means, counts = [], []
        for base in sorted(groups, key=_sort_key):
            p = len(names)
            names.append(_base_name(base))
            seeds = sorted(groups[base])
            for q, (seed, j) in enumerate(seeds):
                pos_of[j] = p + 1 + q
                names.append(f"{names[p]}/seed{seed}")
            means.append((p, len(seeds)))
            if base[0] == "m" and base[4] == "acc" and base[5] == base[1]:
                counts.append((f"{names[p]}/n_seeds", p, len(seeds)))
        n, m = len(rows), len(names)
        values = _empty_fortran(n, m)  # resident only as rows are filled
        block = max(1, min(n, (32 << 20) // max(1, 8 * m)))
        buf = np.empty((block, m))
        positions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for r0 in range(0, n, block):
            b = buf[: min(n, r0 + block) - r0]
            b.fill(np.nan)
            for r in range(r0, r0 + len(b)):
                for ids, c, off in self.pieces.pop(rows[r], ()):
                    hit = positions.get(id(ids))
                    if hit is None:
                        hit = positions[id(ids)] = (ids, pos_of[ids])  # keeps ids alive: id() stays unique
                    b[r - r0, hit[1]] = self.tape.take(c, off, len(ids))
            values[r0 : r0 + len(b)] = b
        del buf, positions
        n_seeds, wanted = {}, {p for _name, p, _k in counts}
        for p, k in means:
            seeds = values[:, p + 1 : p + 1 + k]
            have = ~np.isnan(seeds)
            cnt = have.sum(axis=1)
            total = np.where(have, seeds, 0.0).sum(axis=1)  # ascending seeds, left to right: np.mean's order
            with np.errstate(invalid="ignore", divide="ignore"):
                values[:, p] = np.where(cnt > 0, total / cnt, np.nan)
            if p in wanted:
                n_seeds[p] = cnt
        if len(set(names)) != len(names):
            raise self._bad("yields clashing column names (an unexpected split or dataset name)")
        head = {"index": np.asarray(rows, np.int64), "arch": archs}
        canon = [space.canonical_string(a) for a in archs]
        first: dict[str, int] = {}
        head["unique_str"] = canon
        head["unique_id"] = np.array([first.setdefault(c, i) for i, c in zip(rows, canon, strict=True)], np.int64)
        head["connected"] = np.array([space.output_connected(a) for a in archs], bool)
        for ds in space.DATASETS:
            head[f"params/{ds}"] = np.array([space.n_params(a, space.N_CLASSES[ds]) for a in archs], np.int64)
        for name, p, _k in counts:
            head[name] = n_seeds[p].astype(np.int64)
        return pd.concat([pd.DataFrame(head), pd.DataFrame(values, columns=names, copy=False)], axis=1)


def _finish(builder: _Builder, source: Any, meta_archs: Any, evaluated: set[int], allow_partial: bool):
    if not isinstance(meta_archs, (list, tuple)) or not all(isinstance(a, str) for a in meta_archs):
        raise _bad(source, "has no list of arch strings ('meta_archs')")
    if not allow_partial:
        if len(meta_archs) != N or len(set(meta_archs)) != N:
            raise _bad(source, f"lists {len(meta_archs):,} architectures ({len(set(meta_archs)):,} distinct), "
                               f"expected {N:,}")
        missing = sorted(set(range(N)) - evaluated)
        if missing:
            raise _bad(source, f"holds results for {len(evaluated):,} of the {N:,} architectures (index "
                               f"{missing[0]} is the first missing one)")
    rows = sorted(evaluated)
    if not rows:
        raise _bad(source, "holds no architecture results")
    outside = [i for i in (rows[0], rows[-1]) if not 0 <= i < len(meta_archs)]
    if outside:
        raise _bad(source, f"holds results for index {outside[0]}, outside its {len(meta_archs):,} arch strings")
    archs = [meta_archs[i] for i in rows]
    for i, a in zip(rows, archs, strict=True):
        try:
            space.parse_arch(a)
        except Exception as exc:
            raise _bad(source, f"lists a malformed arch string {a!r} at index {i}") from exc
        if builder.arch.get(i, a) != a:
            raise _bad(source, f"has the record of {builder.arch[i]!r} at index {i}, where its arch list has {a!r}")
    return builder.table(rows, archs)


# ---- NATS-Bench "simple" directory ----------------------------------------------------------------------------------
def _nats_files(path: Path) -> tuple[Path, dict[int, Path]]:
    files: dict[int, Path] = {}
    for p in path.iterdir():
        m = _ARCH_FILE_RE.match(p.name)
        if m and p.is_file():
            i = int(m.group(1))
            if i in files:
                raise _bad(path, f"holds two files for index {i} ({files[i].name}, {p.name})")
            files[i] = p
    meta = path / "meta.pickle.pbz2"
    if not meta.is_file() or not files:
        raise _bad(path, "is a directory without the NATS-Bench layout (meta.pickle.pbz2 plus one "
                         "<index>.pickle.pbz2 per architecture)")
    return meta, files


def _convert_nats_dir(path: Path, progress, allow_partial: bool) -> pd.DataFrame:
    meta_path, files = _nats_files(path)
    with bz2.open(meta_path, "rb") as f:
        meta = load_results_pickle(f, meta_path)
    if not isinstance(meta, dict) or "meta_archs" not in meta:
        raise _bad(meta_path, "is not a NATS-Bench meta file (no 'meta_archs')")
    builder = _Builder(path)
    for n, (i, p) in enumerate(sorted(files.items()), 1):
        with bz2.open(p, "rb") as f:
            hps = load_results_pickle(f, p)
        if not isinstance(hps, dict) or not hps:
            raise _bad(p, "does not hold the per-schedule records of one architecture")
        for hp, rec in hps.items():
            if not isinstance(rec, dict):
                raise _bad(p, f"holds a {type(rec).__name__} under {hp!r}, not a record")
            idx, s = builder.add_record(rec, f"{p.name} hp {hp!r}")
            if idx != i:
                raise _bad(p, f"holds the record of index {idx}")
            _check_hp(p, hp, s)
        del hps
        if progress:
            progress(n)
    return _finish(builder, path, meta["meta_archs"], set(files), allow_partial)


def _check_hp(source: Any, hp: Any, s: int | None) -> None:
    want = HP_KEYS.get(hp, int(hp) if isinstance(hp, str) and hp.isdigit() else None)
    if s is not None and want is not None and s != want:
        raise _bad(source, f"files a {s}-epoch record under {hp!r}")


# ---- one big pickle (.pth in either torch container, or a .pbz2): two streaming passes ---------------------------
_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_BLOCK = 1 << 24
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_MARKER = "__nasharness_converted_record__"
(_K_SKIP, _K_BINPUT, _K_LONG_BINPUT, _K_BINGET, _K_LONG_BINGET, _K_MEMOIZE, _K_LEN1, _K_LEN4, _K_LEN8, _K_LINE,
 _K_LINE2, _K_PUT, _K_GET, _K_STOP, _K_PERSID, _K_GLOBAL, _K_BAD) = range(17)


def _opcode_tables() -> tuple[list[int], list[int]]:
    special = {"BINPUT": _K_BINPUT, "LONG_BINPUT": _K_LONG_BINPUT, "BINGET": _K_BINGET,
               "LONG_BINGET": _K_LONG_BINGET, "MEMOIZE": _K_MEMOIZE, "PUT": _K_PUT, "GET": _K_GET, "STOP": _K_STOP,
               "PERSID": _K_PERSID, "BINPERSID": _K_PERSID, "GLOBAL": _K_GLOBAL, "INST": _K_GLOBAL,
               "NEXT_BUFFER": _K_BAD, "READONLY_BUFFER": _K_BAD}
    kind, skip = [_K_BAD] * 256, [0] * 256
    for op in pickletools.opcodes:
        c, a = op.code.encode("latin-1")[0], op.arg
        if op.name in special:
            kind[c] = special[op.name]
        elif a is None or a.n >= 0:
            kind[c], skip[c] = _K_SKIP, 1 + (a.n if a else 0)
        elif a.n == pickletools.UP_TO_NEWLINE:
            kind[c] = _K_LINE2 if a.name == "stringnl_noescape_pair" else _K_LINE
        elif a.n == pickletools.TAKEN_FROM_ARGUMENT1:
            kind[c] = _K_LEN1
        elif a.n in (pickletools.TAKEN_FROM_ARGUMENT4, pickletools.TAKEN_FROM_ARGUMENT4U):
            kind[c] = _K_LEN4
        elif a.n == pickletools.TAKEN_FROM_ARGUMENT8U:
            kind[c] = _K_LEN8
    return kind, skip


_KIND, _SKIP = _opcode_tables()


class _Refused(Exception):
    pass


class _Scan:
    """Pass 1: which memo entries are fetched again (a bitmap) and, per fetch, whether it is the last one."""

    def __init__(self, live: bytes, is_last: bytes, end: int):
        self.live, self.is_last, self.end = live, is_last, end


def _scan(f) -> _Scan:
    """Walk the opcodes of the pickle at ``f``'s position without building anything."""
    kind_t, skip_t, read = _KIND, _SKIP, f.read
    buf, pos, base, eof = b"", 0, 0, False
    gets = array("I")
    nxt, dense, memoize = 0, True, False
    while True:
        if len(buf) - pos < 64 and not eof:
            more = read(_BLOCK)
            eof = not more
            buf, base, pos = buf[pos:] + more, base + pos, 0
            continue
        if pos >= len(buf):
            raise EOFError("the pickle ends before its STOP opcode")
        op = buf[pos]
        k = kind_t[op]
        if k == _K_SKIP:
            pos += skip_t[op]
        elif k == _K_LONG_BINPUT or k == _K_BINPUT:
            i = _U32(buf, pos + 1)[0] if k == _K_LONG_BINPUT else buf[pos + 1]
            pos += 5 if k == _K_LONG_BINPUT else 2
            if i >= nxt:
                dense, nxt = dense and i == nxt, i + 1
        elif k == _K_LEN4 or k == _K_LEN1 or k == _K_LEN8:
            if k == _K_LEN4:
                end = pos + 5 + _U32(buf, pos + 1)[0]
            elif k == _K_LEN1:
                end = pos + 2 + buf[pos + 1]
            else:
                end = pos + 9 + _U64(buf, pos + 1)[0]
            if end <= len(buf):
                pos = end
            else:  # a payload beyond the buffer: skip it by reading
                left = end - len(buf)
                base += len(buf)
                while left:
                    chunk = read(min(left, _BLOCK))
                    if not chunk:
                        raise EOFError("the pickle ends inside a string")
                    left -= len(chunk)
                    base += len(chunk)
                buf, pos = b"", 0
        elif k == _K_BINGET:
            gets.append(buf[pos + 1])
            pos += 2
        elif k == _K_LONG_BINGET:
            gets.append(_U32(buf, pos + 1)[0])
            pos += 5
        elif k == _K_MEMOIZE:
            memoize, nxt, pos = True, nxt + 1, pos + 1
        elif k == _K_STOP:
            break
        elif k in (_K_LINE, _K_LINE2, _K_PUT, _K_GET, _K_GLOBAL):
            j = buf.find(b"\n", pos + 1)
            j2 = buf.find(b"\n", j + 1) if j >= 0 and k in (_K_LINE2, _K_GLOBAL) else j
            if j2 < 0:  # the line runs past the buffer
                if eof:
                    raise EOFError("the pickle ends inside a line")
                more = read(_BLOCK)
                eof = not more
                buf, base, pos = buf[pos:] + more, base + pos, 0
                continue
            if k == _K_GLOBAL:
                try:
                    results_global(buf[pos + 1 : j].decode("utf-8"), buf[j + 1 : j2].decode("utf-8"))
                except pickle.UnpicklingError as exc:
                    raise _Refused(str(exc)) from None
            elif k in (_K_PUT, _K_GET):
                i = int(buf[pos + 1 : j])
                if k == _K_GET:
                    gets.append(i)
                elif i >= nxt:
                    dense, nxt = dense and i == nxt, i + 1
            pos = j2 + 1
        elif k == _K_PERSID:
            raise _Refused("refusing a persistent id (tensor storage): the file holds tensors, e.g. network weights")
        else:
            raise pickle.UnpicklingError(f"unknown opcode 0x{op:02x} at byte {base + pos}")
    if memoize and not dense:
        raise pickle.UnpicklingError("memo indices with gaps together with MEMOIZE (not written by Python's pickle)")
    g = np.frombuffer(gets, np.uint32)
    is_last = np.zeros(len(g), np.uint8)
    live = np.zeros((nxt >> 3) + 1, np.uint8)
    if len(g):
        uniq, first_from_end = np.unique(g[::-1], return_index=True)
        is_last[len(g) - 1 - first_from_end] = 1
        np.bitwise_or.at(live, uniq >> 3, np.left_shift(1, uniq & 7).astype(np.uint8))
    return _Scan(live.tobytes(), is_last.tobytes(), base + pos + 1)


class _StreamUnpickler(pickle._Unpickler):
    """Pass 2: pure-Python unpickler that memoizes only what is fetched later, drops it after its last fetch, and
    hands each completed record dict to ``on_record`` (the dict is then emptied but for a small marker)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, f, scan: _Scan, on_record: Callable[[dict], Any]):
        super().__init__(f)
        self._live, self._is_last, self._on_record = scan.live, scan.is_last, on_record
        self._g = self._next = 0

    def find_class(self, module: str, name: str):
        return results_global(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id (tensor storage)")

    def _put(self, i: int) -> None:
        if i >= self._next:
            self._next = i + 1
        if i >> 3 < len(self._live) and self._live[i >> 3] >> (i & 7) & 1:
            self.memo[i] = self.stack[-1]

    def _get(self, i: int) -> None:
        g = self._g
        try:
            obj, last = self.memo[i], self._is_last[g]
        except (KeyError, IndexError):
            raise pickle.UnpicklingError(f"memo value not found at index {i}") from None
        self._g = g + 1
        self.append(obj)
        if last:
            del self.memo[i]

    def _check_record(self, d: Any) -> None:
        if isinstance(d, dict) and "all_results" in d and all(k in d for k in _RECORD_KEYS):
            marker = self._on_record(d)
            d.clear()
            d[_MARKER] = marker

    def _setitems(self):
        items = self.pop_mark()
        d = self.stack[-1]
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]
        self._check_record(d)

    def _setitem(self):
        stack = self.stack
        value = stack.pop()
        key = stack.pop()
        stack[-1][key] = value
        self._check_record(stack[-1])

    dispatch[pickle.BINPUT[0]] = lambda self: self._put(self.read(1)[0])
    dispatch[pickle.LONG_BINPUT[0]] = lambda self: self._put(_U32(self.read(4))[0])
    dispatch[pickle.PUT[0]] = lambda self: self._put(int(self.readline()[:-1]))
    dispatch[pickle.MEMOIZE[0]] = lambda self: self._put(self._next)
    dispatch[pickle.BINGET[0]] = lambda self: self._get(self.read(1)[0])
    dispatch[pickle.LONG_BINGET[0]] = lambda self: self._get(_U32(self.read(4))[0])
    dispatch[pickle.GET[0]] = lambda self: self._get(int(self.readline()[:-1]))
    dispatch[pickle.SETITEMS[0]] = _setitems
    dispatch[pickle.SETITEM[0]] = _setitem


class _PickleSource:
    """Where the one big pickle of a file starts, and how to open a fresh stream there."""

    def __init__(self, path: Path, kind: str, opener: Callable[[], Any], after: Callable[[int], None] | None = None):
        self.path, self.kind, self.open, self.after = path, kind, opener, after


class _ZipMember:
    """A compressed zip member as a readable stream that closes its archive too."""

    def __init__(self, path: Path, zi: zipfile.ZipInfo):
        self._z = zipfile.ZipFile(path)
        self._f = self._z.open(zi)
        self.read, self.readline = self._f.read, self._f.readline

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()
        self._z.close()


def _at(path: Path, offset: int):
    f = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 (the caller closes it)
    f.seek(offset)
    return f


def _pickle_source(path: Path) -> _PickleSource:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if len(names) != 1:
                    raise _bad(path, f"is a zip archive with {len(names)} data.pkl entries, not a torch.save file")
                zi = z.getinfo(names[0])
        except zipfile.BadZipFile as exc:
            raise _bad(path, f"is a damaged zip archive ({exc})") from exc
        if zi.compress_type != zipfile.ZIP_STORED:  # torch writes its archives uncompressed; others: decompress
            return _PickleSource(path, "torch zip", lambda: _ZipMember(path, zi))
        with open(path, "rb") as f:
            f.seek(zi.header_offset)
            local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise _bad(path, "is a damaged zip archive (bad local header of data.pkl)")
        start = zi.header_offset + 30 + sum(struct.unpack("<HH", local[26:30]))
        return _PickleSource(path, "torch zip", lambda: _at(path, start))
    if head[:3] == b"BZh":
        return _PickleSource(path, "bz2 pickle", lambda: bz2.open(path, "rb"))
    if head[:1] == b"\x80" and head[2:14] == _LEGACY_MAGIC:
        bio = io.BytesIO(head)
        try:
            u = NoGlobalsUnpickler(bio)
            magic, version, info = u.load(), u.load(), u.load()
        except Exception as exc:
            raise _bad(path, f"has a damaged torch header ({type(exc).__name__}: {exc})") from exc
        if magic != 0x1950A86A20F9469CFC6C or version != 1001 or not isinstance(info, dict):
            raise _bad(path, f"has an unknown torch header (protocol {version!r})")
        start = bio.tell()

        def after(end: int) -> None:  # the legacy stream ends with the list of tensor storages: there must be none
            with _at(path, start + end) as f:
                try:
                    keys = NoGlobalsUnpickler(f).load()
                except Exception as exc:
                    raise _bad(path, f"is truncated after its data ({type(exc).__name__}: {exc})") from exc
            if keys != []:
                raise _bad(path, "holds tensors (network weights), not the results-only benchmark file")
        return _PickleSource(path, "torch legacy", lambda: _at(path, start), after)
    if head[:1] == b"\x80":
        return _PickleSource(path, "pickle", lambda: _at(path, 0))
    raise _bad(path, "is neither a torch .pth file (zip or legacy), a pickle, a .pbz2 pickle nor a NATS-Bench "
                     "directory")


def _convert_pickle_file(path: Path, progress, allow_partial: bool) -> tuple[pd.DataFrame, str]:
    src = _pickle_source(path)
    builder = _Builder(path)
    state = {"last": None, "n": 0}

    def on_record(rec: dict):
        idx, s = builder.add_record(rec, "arch2infos")
        if idx != state["last"]:
            if state["last"] is not None and progress:
                progress(state["n"])
            state["last"], state["n"] = idx, state["n"] + 1
        return idx, s

    try:
        with src.open() as f:
            scan = _scan(f)
        if src.after:
            src.after(scan.end)
        with src.open() as f:
            top = _StreamUnpickler(f, scan, on_record).load()
        del scan
    except _Refused as exc:
        raise _refused(path, exc) from None
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refusing"):
            raise _refused(path, exc) from None
        raise _bad(path, f"is damaged ({exc})") from exc
    except (EOFError, OSError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError,
            struct.error, zipfile.BadZipFile) as exc:
        raise _bad(path, f"is truncated or damaged ({type(exc).__name__}: {exc})") from exc
    if state["last"] is not None and progress:
        progress(state["n"])
    if not isinstance(top, dict) or "meta_archs" not in top or not isinstance(top.get("arch2infos"), dict):
        raise _bad(path, "does not hold the NAS-Bench-201 layout {'meta_archs', 'arch2infos', ...}")
    a2i = top["arch2infos"]
    for key, hps in a2i.items():
        if not isinstance(hps, dict):
            raise _bad(path, f"holds a {type(hps).__name__} for index {key!r}, not its per-schedule records")
        for hp, rec in hps.items():
            if not isinstance(rec, dict) or _MARKER not in rec:
                raise _bad(path, f"holds an entry {hp!r} of index {key!r} that is not an ArchResults record")
            idx, s = rec[_MARKER]
            if idx != key:
                raise _bad(path, f"files the record of index {idx} under index {key!r}")
            _check_hp(path, hp, s)
    evaluated = top.get("evaluated_indexes")
    if evaluated is not None and set(evaluated) != set(a2i):
        raise _bad(path, f"lists {len(set(evaluated)):,} evaluated indexes but holds {len(a2i):,} architectures")
    return _finish(builder, path, top["meta_archs"], set(a2i), allow_partial), src.kind


def _refused(path: Path, exc: Exception) -> DataError:
    return DataError(
        f"NAS-Bench-201 official source {str(path)!r} is not plain benchmark data: {exc}. Loading it would let the "
        f"file run code (or load tensors), so it is refused; only plain containers and numpy values are accepted. "
        f"Use the original NAS-Bench-201 / NATS-Bench download."
    )


# ---- public API -----------------------------------------------------------------------------------------------------
def _convert(path: str | Path, progress, allow_partial: bool) -> tuple[pd.DataFrame, str]:
    path = Path(path).expanduser()
    if path.is_dir():
        return _convert_nats_dir(path, progress, allow_partial), "nats simple directory"
    if path.is_file():
        return _convert_pickle_file(path, progress, allow_partial)
    raise _bad(path, "does not exist" if not path.exists() else "is neither a file nor a directory")


def convert_official(path: str | Path, progress: Callable[[int], None] | None = None, *,
                     allow_partial: bool = False) -> pd.DataFrame:
    """Convert an official NB201 ``.pth`` or a NATS-Bench ``-simple`` directory into one DataFrame.

    Row i is official index i (15,625 rows); columns are named as the module docstring says. ``progress(n)`` is
    called after each architecture. ``allow_partial=True`` accepts files with fewer architectures (their rows are
    the indices present, in order; ``index`` says which); otherwise anything but all 15,625 is a DataError.
    """
    return _convert(path, progress, allow_partial)[0]


def official_table_paths() -> tuple[Path, Path]:
    return cache_dir() / f"{NAME}.parquet", cache_dir() / f"{NAME}.json"


def source_sha256(path: str | Path) -> str:
    """sha256 of a file; for a NATS directory, of its meta and arch files in name order, each as name, NUL, 8-byte
    little-endian size, then the bytes."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path)
    meta, files = _nats_files(path)
    h = hashlib.sha256()
    for p in sorted([meta, *files.values()], key=lambda p: p.name):
        h.update(p.name.encode() + b"\0" + p.stat().st_size.to_bytes(8, "little"))
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def merge_base(table: pd.DataFrame, base: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add ``base``'s columns that ``table`` lacks, row-aligned by official index, after checking the arch strings
    agree. Returns the merged table and the added column names."""
    if not isinstance(base, pd.DataFrame) or "arch" not in base.columns:
        raise DataError(f"the base table must be a DataFrame with an 'arch' column (the existing NB201 table), got "
                        f"{type(base).__name__}. Pass nasharness.tabular.nb201.load().table.")
    idx = table["index"].to_numpy()
    if "index" in base.columns:
        pos = pd.Index(base["index"].to_numpy()).get_indexer(idx)
    else:
        pos = np.where(idx < len(base), idx, -1)
    if (pos < 0).any():
        raise DataError(f"the base table has no row for official index {int(idx[np.argmax(pos < 0)])} (it has "
                        f"{len(base):,} rows). Pass the full 15,625-row NB201 table as base.")
    theirs = base["arch"].to_numpy()[pos]
    diff = np.flatnonzero(theirs != table["arch"].to_numpy())
    if len(diff):
        i = int(diff[0])
        raise DataError(
            f"the base table and the official file disagree on the architecture at index {int(idx[i])}: the official "
            f"file has {table['arch'].iat[i]!r}, the base {theirs[i]!r} ({len(diff):,} rows differ). They index "
            f"different orders; pass the NB201 table built from the staged sources (official index order)."
        )
    added = [c for c in base.columns if c not in table.columns]
    extra = base[added].iloc[pos].reset_index(drop=True)
    return pd.concat([table, extra], axis=1), added


def prepare_official(source: str | Path, base: pd.DataFrame | None = None,
                     progress: Callable[[int], None] | None = None, *, allow_partial: bool = False) -> dict:
    """Convert ``source`` once into the user cache (``nb201-official.parquet`` + ``.json``) and return the sidecar.

    With ``base`` (the existing NB201 table), the columns the official data lacks (HELP latencies, ``raw/*``, …)
    are added by index after checking every arch string agrees.
    """
    source = Path(source).expanduser()
    t0 = time.perf_counter()
    table, kind = _convert(source, progress, allow_partial)
    added: list[str] = []
    if base is not None:
        table, added = merge_base(table, base)
    table_path, meta_path = official_table_paths()
    meta_path.unlink(missing_ok=True)  # never a sidecar describing another parquet, even if we die mid-write
    write_table(table, table_path)
    meta = {
        "name": NAME,
        "format_version": FORMAT_VERSION,
        "sources": {"official": {"path": str(source), "kind": kind, "sha256": source_sha256(source)}},
        "partial": allow_partial,
        "base_columns": added,
        "n_rows": len(table),
        "columns": list(map(str, table.columns)),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "table_sha256": sha256_file(table_path),
    }
    atomic_write_json(meta_path, meta)
    return meta


def load_official():
    """The prepared official table and its sidecar (checked); :func:`nasharness.tabular.nb201.load` wraps them."""
    table_path, meta_path = official_table_paths()
    if not (table_path.is_file() and meta_path.is_file()):
        raise DataError(f"the official NB201 table is not prepared ({str(table_path)!r} is missing). Convert the "
                        f"official file once with `nasharness bench prepare 201 --source PATH`.")
    fix = ("Run `nasharness bench prepare 201 --source PATH` again, or delete both files to use the table shipped "
           "with the package.")
    meta = read_checked_sidecar(table_path, meta_path, "table_sha256",
                                "the NB201 table prepared from the official file", fix)
    if meta.get("name") != NAME or meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"the cached official NB201 table has format {meta.get('format_version')!r}, this version "
                        f"reads {FORMAT_VERSION}. Run `nasharness bench prepare 201 --source PATH` again.")
    meta["cache"] = {"path": str(table_path), "hit": True}
    return read_table(table_path, NAME), meta
