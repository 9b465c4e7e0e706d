"""DARTS (Liu et al., ICLR 2019): softmax-mixed operations, bi-level optimisation, top-2 edges per node."""

from .differentiable import DifferentiableMethod


class DARTS(DifferentiableMethod):
    """Exclusive competition: each edge's ops share one softmax; first-order by default (``--set order=2`` for the
    unrolled second-order step)."""

    activation = "softmax"
