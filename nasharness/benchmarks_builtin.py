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
