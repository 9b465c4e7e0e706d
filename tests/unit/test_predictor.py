import math

import numpy as np
import pytest
import torch

from nasharness.errors import ConfigError
from nasharness.metrics import kendall_tau
from nasharness.predictors.model import Predictor, PredictorConfig, pairwise_loss


def test_pairwise_loss_hand_worked():
    right = pairwise_loss(torch.tensor([2.0, 1.0]), torch.tensor([1.0, 0.0]))
    wrong = pairwise_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]))
    assert right.item() == pytest.approx(math.log1p(math.exp(-1)))  # both ordered pairs agree with the truth
    assert wrong.item() == pytest.approx(math.log1p(math.exp(1)))
    assert pairwise_loss(torch.tensor([3.0, 1.0]), torch.tensor([0.5, 0.5])).item() == 0.0  # ties carry no signal
    # only the order matters, not the label scale
    a = pairwise_loss(torch.tensor([0.3, -0.2, 1.0]), torch.tensor([1.0, 2.0, 3.0]))
    b = pairwise_loss(torch.tensor([0.3, -0.2, 1.0]), torch.tensor([10.0, 20.0, 300.0]))
    assert a.item() == pytest.approx(b.item())


def _synthetic(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3, 5, 5)).astype(np.float32)
    y = x[:, 0].mean((1, 2)) * 2 - x[:, 2].mean((1, 2))  # a ranking the CNN (conv + global pool) can represent
    return x, y


@pytest.mark.parametrize("loss", ["pairwise", "mse"])
def test_predictor_learns_a_synthetic_ranking(loss):
    x, y = _synthetic(256, 0)
    xt, yt = _synthetic(256, 1)
    cfg = PredictorConfig(epochs=60, batch_size=64, lr=3e-3, width=16, train_size=256, train_ratio=None)
    pred = Predictor(3, cfg, loss, seed=0).fit(x, y)
    assert kendall_tau(pred.predict(x), y).value > 0.95
    assert kendall_tau(pred.predict(xt), yt).value > 0.8  # and it generalizes to unseen inputs


def test_predictor_is_deterministic():
    x, y = _synthetic(64, 2)
    cfg = PredictorConfig(epochs=5, batch_size=16, width=8, train_size=64, train_ratio=None)
    a = Predictor(3, cfg, "pairwise", seed=3).fit(x, y).predict(x)
    b = Predictor(3, cfg, "pairwise", seed=3).fit(x, y).predict(x)
    c = Predictor(3, cfg, "pairwise", seed=4).fit(x, y).predict(x)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(("kw", "pattern"), [({"train_ratio": 1.5}, "train_ratio"), ({"epochs": 0}, "epochs"),
                                             ({"train_size": 1, "train_ratio": None}, "train_size")])
def test_predictor_config_validation(kw, pattern):
    with pytest.raises(ConfigError, match=pattern):
        PredictorConfig(**kw)
