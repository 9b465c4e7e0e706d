"""ReNAS (Xu et al., CVPR 2021): a relativistic predictor — a CNN over feature tensors trained on which of two
architectures is better, not on their absolute accuracy."""

from .predictor import PredictorMethod


class ReNAS(PredictorMethod):
    """Relativistic (pairwise ranking) predictor over ReNAS feature tensors; ranks all untrained archs."""

    loss = "pairwise"
