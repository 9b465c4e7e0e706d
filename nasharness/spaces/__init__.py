"""Search spaces: architecture encodings, validation, canonical forms, sampling and mutation."""

from __future__ import annotations

import numpy as np


class NB201Space:
    """Cells as arch strings; uniform sampling over the 5^6 op assignments; mutation changes one edge's op."""

    name = "nb201"

    def choices(self) -> list[tuple[str, ...]]:
        from . import nb201  # noqa: PLC0415

        return [nb201.OPS] * len(nb201.EDGES)

    def sample(self, rng: np.random.Generator) -> str:
        from . import nb201  # noqa: PLC0415

        return nb201.format_arch([nb201.OPS[i] for i in rng.integers(0, len(nb201.OPS), len(nb201.EDGES))])

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        from . import nb201  # noqa: PLC0415

        ops = list(nb201.parse_arch(arch))
        e = int(rng.integers(len(ops)))
        ops[e] = [o for o in nb201.OPS if o != ops[e]][int(rng.integers(len(nb201.OPS) - 1))]
        return nb201.format_arch(ops)

    def validate(self, arch: str) -> str:
        from . import nb201  # noqa: PLC0415

        return nb201.format_arch(nb201.parse_arch(arch))


class NB101Space:
    """Valid pruned specs. ``sample``: a graph matched to the space's vertex/edge-count distribution
    (:func:`nb101.sample_matrix`) with uniform ops. Mutation flips an edge or changes an op (rejecting invalid
    results)."""

    name = "nb101"

    def sample(self, rng: np.random.Generator):
        from . import nb101  # noqa: PLC0415

        m = nb101.sample_matrix(rng)
        ops = [nb101.INPUT] + [nb101.OPS[i] for i in rng.integers(0, 3, len(m) - 2)] + [nb101.OUTPUT]
        return nb101.make_spec(m, ops)

    def mutate(self, spec, rng: np.random.Generator, max_tries: int = 1000):
        """Flip one edge or change one op of the spec placed in the full 7-vertex frame (padded with unconnected
        vertices of random ops, so a small graph can grow); the result is pruned, and redrawn until it is valid and a
        different architecture (another hash). Only if no single change works (the bare input -> output graph) are
        two or more changes made at once."""
        from . import nb101  # noqa: PLC0415

        n, full = spec.n_vertices, nb101.MAX_VERTICES
        m = np.zeros((full, full), dtype=int)
        m[:n - 1, :n - 1] = spec.numpy()[:n - 1, :n - 1]
        m[:n - 1, full - 1] = spec.numpy()[:n - 1, n - 1]  # edges into the output keep pointing at the output
        base_ops = list(spec.ops[:-1])
        original = spec.hash()
        for attempt in range(max_tries):
            ops = base_ops + [nb101.OPS[int(i)] for i in rng.integers(0, 3, full - n)] + [nb101.OUTPUT]
            m2 = m.copy()
            # one change; a graph with no valid one-change neighbour (input -> output alone) gets two, then more
            for _ in range(min(1 + attempt // 100, 4)):
                if rng.random() < 0.5:
                    v = int(rng.integers(1, full - 1))
                    ops[v] = [o for o in nb101.OPS if o != ops[v]][int(rng.integers(2))]
                else:
                    i, j = sorted(rng.choice(full, 2, replace=False))
                    m2[i, j] = 1 - m2[i, j]
            try:
                new = nb101.make_spec(m2, ops)
            except nb101.SpecError:
                continue
            if new.hash() != original:
                return new
        raise RuntimeError(f"no valid mutation of NB101 spec {original} in {max_tries} tries")  # pragma: no cover

    def validate(self, spec):
        from . import nb101  # noqa: PLC0415

        return nb101.make_spec(spec.matrix, spec.ops) if isinstance(spec, nb101.Spec) else nb101.make_spec(*spec)


def fairnas_space():
    """The FairNAS ImageNet space (:data:`nasharness.spaces.mobilenet.SPACES`)."""
    from .mobilenet import SPACES as MOBILE  # noqa: PLC0415

    return MOBILE["fairnas"]


def scarlet_space():
    """The SCARLET ImageNet space."""
    from .mobilenet import SPACES as MOBILE  # noqa: PLC0415

    return MOBILE["scarlet"]


def darts_space():
    """The DARTS CIFAR-10 cell space."""
    from .darts import DartsSpace  # noqa: PLC0415

    return DartsSpace()
