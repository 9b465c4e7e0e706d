"""SCARLET-NAS (Chu et al., 2019/2021): fair sampling with a linearly equivalent transformation of the identity.

In NAS-Bench-201 the only identity choice is ``skip_connect`` (``none`` is zero, ``avg_pool_3x3`` is not linear in
the learnable sense), so during supernet training every ``skip_connect`` on every edge of every cell is a learnable
1x1 conv without BN or ReLU. Inherited-weight evaluation keeps that transform — it is part of the trained supernet's
function, and being linear it can be merged into the next layer, which is what makes it "equivalent" to the identity
of the standalone architecture that the table reports. The reduction blocks' shortcuts are not searchable and stay.
"""

from ..supernet.samplers import FairSampler
from .oneshot import OneShotMethod


class SCARLET(OneShotMethod):
    """Strict fairness + identity replaced by a linear 1x1 transform during supernet training."""

    sampler_cls = FairSampler
    linear_skip = True
