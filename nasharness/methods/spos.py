"""SPOS (Guo et al., ECCV 2020): single-path one-shot with uniform path sampling."""

from ..supernet.samplers import UniformSampler
from .oneshot import OneShotMethod


class SPOS(OneShotMethod):
    """Single-path one-shot: one uniformly sampled path per training step."""

    sampler_cls = UniformSampler
