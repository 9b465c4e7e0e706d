"""Fair DARTS (Chu et al., ECCV 2020): independent sigmoid weights per op plus the zero-one loss; cells parsed by
threshold (0.85, at most two inputs per node) on the DARTS space and by argmax per edge on NAS-Bench-201."""

from .differentiable import DifferentiableMethod


class FairDARTS(DifferentiableMethod):
    """Collaborative competition: a sigmoid per op, so ops do not take weight from each other (no unfair advantage
    for skip connections); the zero-one loss (weight 10, ``--set zero_one_weight=W``) pushes each weight to 0 or 1."""

    activation = "sigmoid"
    zero_one_weight = 10.0
