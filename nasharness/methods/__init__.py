"""Search methods: one file each, registered in :data:`nasharness.plugins.METHODS`.

To add a method: write ``methods/<name>.py`` with a class decorated ``@METHODS.register("<name>")`` and add the
module name to ``_MODULES``.
"""

from importlib import import_module

_MODULES = ("random", "spos", "fairnas", "scarlet", "darts", "fairdarts", "renas", "predictor_mse")

for _m in _MODULES:
    import_module(f"{__name__}.{_m}")
