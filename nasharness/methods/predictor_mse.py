"""The regression baseline for ReNAS: the same encoder, network and protocol, trained with MSE on accuracy."""

from .predictor import PredictorMethod


class PredictorMSE(PredictorMethod):
    """Same CNN and encodings as renas, trained to regress accuracy (MSE) instead of ranking pairs."""

    loss = "mse"
