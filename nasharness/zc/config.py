"""Settings of the zero-cost proxies (no torch import here, so building and validating a config stays cheap)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

#: Every proxy :func:`nasharness.zc.compute` knows, in the order it reports them by default.
PROXIES: tuple[str, ...] = ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "naswot", "zen", "l2_norm",
                            "params", "flops")
#: The proxies Abdelfattah et al.'s ``vote`` combines (zero-cost-nas, notebooks/nasbench201_correlations.ipynb).
VOTE_PROXIES: tuple[str, ...] = ("synflow", "jacov", "snip")

INITS = ("default", "kaiming", "xavier")
BN_MODES = ("train", "eval")
SYNFLOW_BN = ("identity", "eval", "train")
SYNFLOW_INPUTS = ("ones",)
DTYPES = ("float64", "float32")
LOSSES = ("cross_entropy",)


def _choice(field: str, value, allowed: tuple[str, ...], why: str) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"ZCConfig.{field} must be one of {', '.join(map(repr, allowed))} ({why}); "
                          f"got {value!r}.")


def _positive_int(field: str, value, example: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"ZCConfig.{field} must be a positive integer (e.g. {example}); got {value!r} "
                          f"({type(value).__name__}).")


@dataclass(frozen=True)
class ZCConfig:
    """How the zero-cost proxies are computed. Frozen and validated on construction.

    * ``batch_size``, ``n_batches``: the first ``n_batches`` batches, each cut to ``batch_size`` images, are
      concatenated into the one minibatch every data proxy sees (as zero-cost-nas's ``get_some_data`` does).
    * ``init``: ``'default'`` = the module's own initialisation, run under ``torch.manual_seed(init_seed)``;
      ``'kaiming'`` / ``'xavier'``: afterwards ``kaiming_normal_`` / ``xavier_normal_`` on every conv and linear
      weight (biases and norm layers keep their own init), as zero-cost-nas's ``init_net``.
    * ``init_seed``: seeds the network's initialisation, every forward pass (dropout-like randomness, if any) and
      Zen's Gaussian re-initialisation and random inputs. Same seed, same numbers.
    * ``bn_mode``: the mode of the batch-norm layers in the data proxies (snip, grad_norm, grasp, fisher, jacov,
      naswot). Every other module is in eval mode, so there is no dropout, drop-path or auxiliary head.
    * ``synflow_bn``: ``'identity'`` (zero-cost-nas / NASLib ``synflow``: BN layers replaced by the identity),
      ``'eval'`` (Tanaka et al.'s pruning code: model in eval mode) or ``'train'`` (zero-cost-nas ``synflow_bn``).
    * ``synflow_input``: ``'ones'``; ``synflow_dtype``: the dtype synflow runs in (float64 avoids overflow).
    * ``loss``: the loss of snip, grad_norm, grasp and fisher (``'cross_entropy'``, mean over the batch).
    * ``fisher_modules``: class names of the modules whose *outputs* are fisher's activations (a module matches if
      any class in its MRO has one of these names). Default conv and linear outputs, as zero-cost-nas and NASLib.
    * ``zen_gamma``: Zen-NAS's perturbation scale (mixup_gamma); ``zen_repeat``: Zen scores averaged.
    """

    batch_size: int = 64
    n_batches: int = 1
    init: str = "default"
    init_seed: int = 0
    bn_mode: str = "train"
    synflow_bn: str = "identity"
    synflow_input: str = "ones"
    synflow_dtype: str = "float64"
    loss: str = "cross_entropy"
    fisher_modules: tuple[str, ...] = ("Conv2d", "Linear")
    zen_gamma: float = 1e-2
    zen_repeat: int = 1

    def __post_init__(self):
        _positive_int("batch_size", self.batch_size, 64)
        _positive_int("n_batches", self.n_batches, 1)
        _positive_int("zen_repeat", self.zen_repeat, 1)
        seed = self.init_seed
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ConfigError(f"ZCConfig.init_seed must be an integer in [0, 2**63); got {seed!r}.")
        _choice("init", self.init, INITS, "'default' keeps the module's own initialisation")
        _choice("bn_mode", self.bn_mode, BN_MODES, "the batch-norm mode of the data proxies")
        _choice("synflow_bn", self.synflow_bn, SYNFLOW_BN, "how synflow treats batch norm")
        _choice("synflow_input", self.synflow_input, SYNFLOW_INPUTS, "synflow's input is all ones by definition")
        _choice("synflow_dtype", self.synflow_dtype, DTYPES, "float64 avoids overflow of the synaptic flow")
        _choice("loss", self.loss, LOSSES, "the loss of snip, grad_norm, grasp and fisher")
        mods = self.fisher_modules
        if isinstance(mods, str):
            raise ConfigError(f"ZCConfig.fisher_modules must be a tuple of module class names, e.g. "
                              f"('Conv2d', 'Linear'); got the string {mods!r} (write ({mods!r},)).")
        try:
            mods = tuple(mods)
        except TypeError:
            raise ConfigError(f"ZCConfig.fisher_modules must be a tuple of module class names, e.g. "
                              f"('Conv2d', 'Linear'); got {mods!r}.") from None
        if not mods or not all(isinstance(m, str) and m.isidentifier() for m in mods):
            raise ConfigError(f"ZCConfig.fisher_modules must be a non-empty tuple of module class names such as "
                              f"'Conv2d', 'Linear' or 'ReLU'; got {self.fisher_modules!r}.")
        object.__setattr__(self, "fisher_modules", mods)
        g = self.zen_gamma
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g <= 0:
            raise ConfigError(f"ZCConfig.zen_gamma must be a positive finite number (Zen-NAS uses 0.01); got {g!r}.")
