"""DARTS (Liu et al., ICLR 2019): softmax-mixed operations, bi-level optimisation, top-2 edges per node."""

from ..plugins import METHODS
from .differentiable import DifferentiableMethod


@METHODS.register("darts")
class DARTS(DifferentiableMethod):
    """Exclusive competition: each edge's ops share one softmax; first-order by default (``--set order=2`` for the
    unrolled second-order step)."""

    activation = "softmax"
