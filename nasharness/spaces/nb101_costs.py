"""Per-vertex parameters and multiply-adds of the NAS-Bench-101 network, from its channel rules.

Network (NB101 paper, Sec. 2): stem conv3x3-BN-ReLU 3 -> 128; 3 stacks of 3 cells; a 2x2 max-pool between stacks,
where the channel count doubles (the first cell of a stack maps C to 2C); global average pool; dense layer to 10
classes. Inside a cell with C_in input and C_out output channels:

* vertex channels: the vertices feeding the output split C_out evenly (the remainder goes one channel each to the
  first ones); every other interior vertex gets the max of its successors' channels;
* an interior vertex sums its inputs — the cell input through a 1x1 conv-BN-ReLU projection to the vertex's
  channels, other vertices truncated to its channels — and applies its op (conv3x3-BN-ReLU, conv1x1-BN-ReLU on
  C -> C, or a 3x3 max-pool);
* the output concatenates the vertices feeding it, plus a 1x1 projection of the cell input when input -> output.

Convs have no bias; BN has scale and shift (2 parameters per channel). Projection costs are charged to the vertex that
receives them (the output vertex for input -> output). Multiply-adds count convs and the dense layer only.
"""

from __future__ import annotations

import numpy as np

from .nb101 import CONV1X1, CONV3X3, Spec

STEM_CHANNELS = 128
STACKS = 3
CELLS_PER_STACK = 3
RESOLUTION = 32
NUM_CLASSES = 10


def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[-1] = c_in, c_out
    if n == 2:
        return ch
    in_degree = int(matrix[1:, -1].sum())
    interior, correction = divmod(c_out, in_degree)
    for v in range(1, n - 1):
        if matrix[v, -1]:
            ch[v] = interior + (1 if correction > 0 else 0)
            correction -= 1 if correction > 0 else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v, -1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    ch[v] = max(ch[v], ch[dst])
    return ch


def cell_costs(spec: Spec, c_in: int, c_out: int, hw: int) -> tuple[np.ndarray, np.ndarray]:
    """(params, multiply-adds) per vertex of one cell."""
    m = spec.numpy().astype(int)
    n = len(m)
    ch = vertex_channels(c_in, c_out, m)
    params = np.zeros(n)
    macs = np.zeros(n)

    def conv_bn(cin, cout, k):
        return k * k * cin * cout + 2 * cout, k * k * cin * cout * hw * hw

    for v in range(1, n):
        if m[0, v]:  # projection of the cell input
            p, f = conv_bn(c_in, ch[v], 1)
            params[v] += p
            macs[v] += f
        if v < n - 1 and spec.ops[v] in (CONV3X3, CONV1X1):
            p, f = conv_bn(ch[v], ch[v], 3 if spec.ops[v] == CONV3X3 else 1)
            params[v] += p
            macs[v] += f
    return params, macs


def network_costs(spec: Spec) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-cell per-vertex params and multiply-adds ([9, n] each) and the network's total parameters."""
    c = STEM_CHANNELS
    hw = RESOLUTION
    total = 3 * 9 * c + 2 * c  # stem conv + BN
    params, macs = [], []
    c_in = c
    for stack in range(STACKS):
        if stack > 0:
            hw //= 2
            c *= 2
        for _ in range(CELLS_PER_STACK):
            p, f = cell_costs(spec, c_in, c, hw)
            params.append(p)
            macs.append(f)
            total += int(p.sum())
            c_in = c
    total += c * NUM_CLASSES + NUM_CLASSES
    return np.stack(params), np.stack(macs), total
