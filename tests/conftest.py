"""Shared fixtures. Integration tests read the real data in ../shared/data (or NASHARNESS_DATA_DIR).

Caches go to a per-session temporary directory, never the user's cache. Where the data is missing the integration
tests are skipped locally but fail under CI (CI=true), so a broken data setup can never pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    old = os.environ.get("NASHARNESS_CACHE_DIR")
    os.environ["NASHARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("nasharness-cache"))
    yield
    if old is None:
        os.environ.pop("NASHARNESS_CACHE_DIR", None)
    else:
        os.environ["NASHARNESS_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def data_dir() -> Path:
    from nasharness.errors import DataError
    from nasharness.paths import resolve_data_dir

    try:
        return resolve_data_dir()
    except DataError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared data: {exc}")
        pytest.skip("needs the staged source files (../shared/data beside the checkout, or NASHARNESS_DATA_DIR); "
                    "none here")


@pytest.fixture(scope="session")
def nb201(data_dir):
    from nasharness.tabular import nb201

    return nb201.load(data_dir)


@pytest.fixture(scope="session")
def nb101(data_dir):
    from nasharness.tabular import nb101

    return nb101.load(data_dir, full=False)


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """One temporary sqlite store per session (creating the schema takes a few seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="session")
def cifar10_images() -> None:
    """The full CIFAR-10 training set (the data root's cifar10-jpg.tar): for runs whose tiny overrides draw image
    subsets other than the `ci` budget's, which is all the package ships. Skipped without it (failed under CI)."""
    from nasharness.data.cifar import JPG_TAR
    from nasharness.paths import find_data_dir

    root = find_data_dir()
    if root is not None and (root / JPG_TAR).is_file():
        return
    why = (f"needs the full CIFAR-10 images ({JPG_TAR} under the data root, ../shared/data or NASHARNESS_DATA_DIR): "
           f"these runs draw image subsets other than the `ci` budget's, the only ones shipped with the package")
    if os.environ.get("CI"):
        pytest.fail(f"CI must have the shared data: {why}")
    pytest.skip(why)


@pytest.fixture
def data_copy(data_dir, tmp_path, monkeypatch):
    """A private copy of the NB201 sources with its own cache, for tests that damage or edit them."""
    import shutil

    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    dst = tmp_path / "data"
    shutil.copytree(data_dir / "nb201", dst / "nb201")
    return dst
