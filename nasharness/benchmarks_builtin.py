"""The built-in benchmark definitions (named in :data:`nasharness.plugins.BENCHMARKS`). Each :class:`Entry` says,
without loading anything, what its benchmark offers (the capabilities of :mod:`nasharness.contracts`), its datasets,
its search space, its weight-sharing adapter and the rest of what methods ask about; the loaded benchmark carries
the same attributes. This module is the only place that knows the built-in benchmarks by name."""

from __future__ import annotations

from collections.abc import Callable

#: The static attributes an entry stamps onto the benchmark it loads.
STATIC = ("name", "datasets", "offers", "space", "space_size", "weight_sharing", "search_seconds", "images",
          "mobile_space",
          "predictor_train_default")


class Entry:
    """A registered benchmark factory: ``entry(data_dir=None, **kwargs)`` loads the benchmark."""

    def __init__(self, name: str, load: Callable, *, datasets: tuple[str, ...], offers: tuple[str, ...], space: str,
                 space_size: int, weight_sharing: str | None = None, search_seconds: dict | None = None,
                 images: str | None = None,
                 mobile_space: str | None = None, predictor_train_default: int | None = None,
                 prepare_source: Callable | None = None):
        self.name, self._load = name, load
        self.datasets, self.offers, self.space, self.space_size = datasets, frozenset(offers), space, space_size
        self.tabular = "table" in self.offers
        self.weight_sharing, self.search_seconds, self.images = weight_sharing, dict(search_seconds or {}), images
        self.mobile_space, self.predictor_train_default = mobile_space, predictor_train_default
        #: ``prepare_source(source, data_dir, force, progress) -> meta``: ``bench prepare --source`` (official files).
        self.prepare_source = prepare_source

    def __call__(self, data_dir=None, **kwargs):
        bench = self._load(data_dir, **kwargs)
        for key in STATIC:
            setattr(bench, key, getattr(self, key))
        return bench


def _load_nb201(data_dir=None, **kwargs):
    from .tabular import nb201  # noqa: PLC0415

    return nb201.load(data_dir, **kwargs)


def _load_nb101(data_dir=None, **kwargs):
    from .tabular import nb101  # noqa: PLC0415

    return nb101.load(data_dir, **kwargs)


def _prepare_nb201(source, data_dir=None, force=False, progress=None) -> dict:
    """NB201's official ``.pth`` (v1.0 / v1.1) or NATS-Bench's ``-simple`` folder; the columns the official file
    lacks (HELP latencies, raw source values) come from the staged (or shipped) table."""
    from .bundled import shipped_table  # noqa: PLC0415
    from .paths import explicit_data_dir  # noqa: PLC0415
    from .tabular import nb201, nb201_official  # noqa: PLC0415

    root = explicit_data_dir(data_dir)
    base = nb201.load(root, force=force).table if root is not None else shipped_table("nb201", nb201.FORMAT_VERSION)[0]
    meta = nb201_official.prepare_official(source, base=base, progress=progress)
    meta["cache"] = {"path": str(nb201_official.official_table_paths()[0]), "hit": False}
    return meta


def _prepare_nb101(source, data_dir=None, force=False, progress=None) -> dict:
    from .tabular import nb101  # noqa: PLC0415

    return nb101.prepare_full(source, progress=progress)


#: Simulated seconds of random search's ``paper`` budget, the order of magnitude of the NATS-Bench topology-space
#: searches (2e4 s CIFAR-10, 4e4 s CIFAR-100, 1.2e5 s ImageNet16-120); NB101 gets 1e6 s (a few thousand 12-epoch runs).
NB201 = Entry(
    "201", _load_nb201, datasets=("cifar10", "cifar100", "ImageNet16-120"),
    offers=("table", "trained-labels", "encoding", "one-shot", "differentiable", "network"), space="nb201",
    space_size=15_625,
    weight_sharing="nasharness.weightsharing.nb201:NB201Adapter", images="cifar10",
    search_seconds={"cifar10": 2e4, "cifar100": 4e4, "ImageNet16-120": 1.2e5}, prepare_source=_prepare_nb201)
NB101 = Entry(
    "101", _load_nb101, datasets=("cifar10",),
    offers=("table", "trained-labels", "encoding", "one-shot", "network"), space="nb101",
    space_size=423_624,
    weight_sharing="nasharness.weightsharing.nb101:NB101Adapter", images="cifar10",
    # the ReNAS paper's NB101 setting: 424 training archs = 0.1% of the 423,624
    search_seconds={"cifar10": 1e6}, predictor_train_default=424, prepare_source=_prepare_nb101)


class SpaceBenchmark:
    """A search space without a table of trained architectures (the DARTS CIFAR-10 space, the ImageNet spaces):
    searches report their derived architecture, its size and cost, and — when asked to train it — its measured
    accuracy."""

    tabular = False
    coverage = 0.0

    def __init__(self, name: str, space_size: int, description: str, info: Callable[[], dict]):
        self.name = name
        self.space_size = space_size
        self.description = description
        self._info = info

    def check_dataset(self, dataset: str) -> str:
        from .errors import unknown_name  # noqa: PLC0415

        if dataset not in self.datasets:
            raise unknown_name(f"dataset for the {self.name} space", dataset, self.datasets)
        return dataset

    def info(self) -> dict:
        return {"benchmark": f"{self.name} search space (no tabular ground truth)", "space_size": self.space_size,
                "datasets": list(self.datasets), "description": self.description, **self._info()}


def _darts_info() -> dict:
    from .spaces import darts  # noqa: PLC0415

    return {"operations": list(darts.PRIMITIVES), "published_genotypes": list(darts.PUBLISHED)}


def _mobile_info(space: str) -> Callable[[], dict]:
    def info() -> dict:
        from .spaces import mobilenet  # noqa: PLC0415

        sp = mobilenet.SPACES[space]
        return {"choices_per_layer": sp.choices_per_layer(),
                "published_models": [n for n, (s, _) in mobilenet.PUBLISHED.items() if s == sp.name]}
    return info


# 14 edges choose 2 per node (1*3*6*10 input pairs) with 7 ops each, for the normal and the reduction cell
_DARTS_SIZE = ((1 * 3 * 6 * 10) * 7**8) ** 2
DARTS = Entry(
    "darts", lambda data_dir=None, **kw: SpaceBenchmark(
        "darts", _DARTS_SIZE, "DARTS CIFAR-10 cell space: 8 operations, normal + reduction cells, 4 intermediate "
        "nodes, 14 edges; networks trained from scratch with `nasharness train --arch`", _darts_info),
    datasets=("cifar10",), offers=("differentiable", "trains-derived", "network"), space="darts",
    space_size=_DARTS_SIZE,
    weight_sharing="nasharness.weightsharing.darts:DartsAdapter", images="cifar10")
FAIRNAS_IMAGENET = Entry(
    "fairnas-imagenet", lambda data_dir=None, **kw: SpaceBenchmark(
        "fairnas-imagenet", 6**19, "FairNAS ImageNet space: 19 inverted-residual layers, kernel 3/5/7 x expansion 3/6",
        _mobile_info("fairnas")),
    datasets=("imagenet",), offers=("one-shot", "network"), space="fairnas-imagenet", space_size=6**19,
    mobile_space="fairnas",
    weight_sharing="nasharness.weightsharing.mobile:MobileAdapter", images="imagenet")
SCARLET_IMAGENET = Entry(
    "scarlet-imagenet", lambda data_dir=None, **kw: SpaceBenchmark(
        "scarlet-imagenet", 12**6 * 13**13,
        "SCARLET ImageNet space: 19 layers, kernel 3/5/7 x expansion 3/6 x SE, identity in 13 layers",
        _mobile_info("scarlet")),
    datasets=("imagenet",), offers=("one-shot", "network"), space="scarlet-imagenet", space_size=12**6 * 13**13,
    mobile_space="scarlet",
    weight_sharing="nasharness.weightsharing.mobile:MobileAdapter", images="imagenet")
