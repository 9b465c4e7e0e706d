"""Registration of the built-in tabular benchmarks (their modules load lazily, on first use)."""

from __future__ import annotations

from .plugins import BENCHMARKS


@BENCHMARKS.register("201", aliases=("nb201", "nasbench201"))
def _nb201(data_dir=None, **kwargs):
    from .tabular import nb201  # noqa: PLC0415

    return nb201.load(data_dir, **kwargs)


@BENCHMARKS.register("101", aliases=("nb101", "nasbench101"))
def _nb101(data_dir=None, **kwargs):
    from .tabular import nb101  # noqa: PLC0415

    return nb101.load(data_dir, **kwargs)


# Datasets each benchmark labels (checked by suites before any data is loaded).
_nb201.datasets = ("cifar10", "cifar100", "ImageNet16-120")
_nb101.datasets = ("cifar10",)


class SpaceBenchmark:
    """A search space without a table of trained architectures (the DARTS CIFAR-10 space, the ImageNet spaces):
    searches report their derived architecture, its size and cost, and — when asked to train it — its measured
    accuracy."""

    tabular = False
    coverage = 0.0

    def __init__(self, name: str, space_size: int, description: str, datasets: tuple[str, ...] = ("cifar10",)):
        self.name = name
        self.space_size = space_size
        self.description = description
        self.datasets = datasets

    def check_dataset(self, dataset: str) -> str:
        from .errors import unknown_name  # noqa: PLC0415

        if dataset not in self.datasets:
            raise unknown_name(f"dataset for the {self.name} space", dataset, self.datasets)
        return dataset

    def info(self) -> dict:
        from .spaces import darts, mobilenet  # noqa: PLC0415

        out = {"benchmark": f"{self.name} search space (no tabular ground truth)", "space_size": self.space_size,
               "datasets": list(self.datasets), "description": self.description}
        if self.name == "darts":
            out.update({"operations": list(darts.PRIMITIVES), "published_genotypes": list(darts.PUBLISHED)})
        else:
            sp = mobilenet.SPACES[self.name.split("-")[0]]
            out.update({"choices_per_layer": sp.choices_per_layer(),
                        "published_models": [n for n, (s, _) in mobilenet.PUBLISHED.items() if s == sp.name]})
        return out


@BENCHMARKS.register("darts", aliases=("darts-cifar10",))
def _darts(data_dir=None, **kwargs):
    # 14 edges choose 2 per node (1*3*6*10 input pairs) with 7 ops each, for the normal and the reduction cell
    per_cell = (1 * 3 * 6 * 10) * 7**8
    return SpaceBenchmark("darts", per_cell**2,
                          "DARTS CIFAR-10 cell space: 8 operations, normal + reduction cells, 4 intermediate nodes, "
                          "14 edges; networks trained from scratch with `nasharness train --arch`")


_darts.datasets = ("cifar10",)


@BENCHMARKS.register("fairnas-imagenet", aliases=("fairnas-space",))
def _fairnas_imagenet(data_dir=None, **kwargs):
    return SpaceBenchmark("fairnas-imagenet", 6**19,
                          "FairNAS ImageNet space: 19 inverted-residual layers, kernel 3/5/7 x expansion 3/6",
                          datasets=("imagenet",))


@BENCHMARKS.register("scarlet-imagenet", aliases=("scarlet-space",))
def _scarlet_imagenet(data_dir=None, **kwargs):
    return SpaceBenchmark("scarlet-imagenet", 12**6 * 13**13,
                          "SCARLET ImageNet space: 19 layers, kernel 3/5/7 x expansion 3/6 x SE, identity in 13 layers",
                          datasets=("imagenet",))


_fairnas_imagenet.datasets = _scarlet_imagenet.datasets = ("imagenet",)
