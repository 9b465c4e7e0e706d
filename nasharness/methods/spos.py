"""SPOS (Guo et al., ECCV 2020): single-path one-shot with uniform path sampling."""

from ..plugins import METHODS
from ..supernet.samplers import UniformSampler
from .oneshot import OneShotMethod


@METHODS.register("spos")
class SPOS(OneShotMethod):
    """Single-path one-shot: one uniformly sampled path per training step."""

    sampler_cls = UniformSampler
