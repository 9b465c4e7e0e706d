"""Zero-cost proxies: scores of an untrained network from one minibatch (synflow, snip, grad_norm, grasp, fisher,
jacov, naswot, zen, l2_norm, params, flops) and Abdelfattah et al.'s majority vote over proxies.

    from nasharness import zc
    scores = zc.compute(lambda: MyNet(), ["synflow", "naswot"], (x, y), zc.ZCConfig(batch_size=64))

Names are imported on first use (PEP 562): ``import nasharness.zc`` imports neither torch nor numpy; ``ZCConfig``
and ``PROXIES`` come without torch, ``vote`` needs numpy only.
"""

from importlib import import_module

_EXPORTS = {
    "ZCConfig": "config",
    "PROXIES": "config",
    "VOTE_PROXIES": "config",
    "vote": "vote",
    "compute": "proxies",
    "compute_reference": "proxies",
    "naswot_kernel": "proxies",
    "jacov_score": "proxies",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nasharness.zc' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
