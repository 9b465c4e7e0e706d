"""FairNAS (Chu et al., ICCV 2021): strict fairness — every choice of every layer trained once per step."""

from ..supernet.samplers import FairSampler
from .oneshot import OneShotMethod


class FairNAS(OneShotMethod):
    """Strict fairness: m paths per step covering every choice once, gradients accumulated, one update."""

    sampler_cls = FairSampler
