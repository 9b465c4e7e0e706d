"""The zero-cost proxy methods through the harness: a small run on NB201 at a toy batch, determinism per seed (fresh
caches), the cache shared between proxy methods, and the predictors' zc_features plumbing."""

import json

import numpy as np
import pytest

import nasharness as nh


def _run(tmp_path, method, seed=0, sub="r", **over):
    return nh.run(nh.RunConfig(method=method, bench="201", seed=seed, max_archs=12, tracking=False, n_boot=20,
                               out_dir=str(tmp_path / sub), overrides={"batch_size": "8", **over}))


def test_proxy_run_is_deterministic_per_seed_and_shares_its_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache-a"))
    a = _run(tmp_path, "synflow")
    assert a.n_evaluated == 12 and a.protocol["proxy"] == "synflow"
    assert json.loads(a.protocol["zc"])["init_seed"] == 0 and a.costs["proxies_from_cache"] == 0
    assert set(a.baselines[a.protocol["final"]]["free"]) == {"params", "flops", "cifar10-valid/x-valid@12"}
    other = _run(tmp_path, "naswot", sub="n")  # the same settings: every proxy was computed with synflow's run
    assert other.costs["proxies_from_cache"] == 12
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache-b"))
    again = _run(tmp_path, "synflow", sub="again")
    assert again.costs["proxies_from_cache"] == 0 and again.ranking == a.ranking and again.chosen == a.chosen
    seed1 = _run(tmp_path, "synflow", seed=1, sub="s1")
    assert json.loads(seed1.protocol["zc"])["init_seed"] == 1 and seed1.ranking != a.ranking


def test_zc_features_add_one_standardized_channel_per_proxy(tmp_path, monkeypatch):
    from nasharness.methods import zerocost
    from nasharness.zc import PROXIES

    def fake_table(self, ctx, adapter, archs, names):  # the proxies' plumbing, not their values, is tested here
        rng = np.random.default_rng(0)
        return ({n: rng.normal(size=len(archs)) * 10.0 ** k for k, n in enumerate(names)},
                {"wall_s": 0.0, "compute_wall_s": 1.0, "cached": 0, "images_sha256": "x", "images": "x",
                 "key": "fake"})

    monkeypatch.setattr(zerocost.ZeroCostMethod, "proxy_table", fake_table)
    seen = {}
    from nasharness.predictors import model

    real_fit = model.Predictor.fit

    def spy(self, x, y):
        seen["shape"] = x.shape
        seen["planes"] = x[:, -2:]
        return real_fit(self, x, y)

    monkeypatch.setattr(model.Predictor, "fit", spy)
    r = nh.run(nh.RunConfig(method="renas", bench="201", tracking=False, out_dir=str(tmp_path),
                            overrides={"zc_features": "synflow,naswot", "epochs": "1", "train_size": "30"}, n_boot=0))
    assert r.protocol["zc_features"] == "synflow,naswot" and r.costs["zc_features/compute_wall_s"] == 1.0
    assert seen["shape"][1] == 14 + 2  # NB201's 14 encoding channels + 2 proxies
    planes = seen["planes"]
    assert np.all(planes == planes[:, :, :1, :1])  # constant planes
    with pytest.raises(nh.UserError, match="unknown proxy 'synflw'"):
        nh.get_method("renas")(nh.RunConfig(method="renas", bench="201", overrides={"zc_features": "synflw"}))
    assert len(PROXIES) == 11
