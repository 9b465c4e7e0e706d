"""Search methods: one file each, registered in :data:`nasharness.plugins.METHODS`.

To add a method: write ``methods/<name>.py`` with a class decorated ``@METHODS.register("<name>")`` and add the
module name to ``_MODULES``. The modules are imported by the method registry on its first lookup
(:func:`load_builtin`), not when this package is imported: ``nasharness.methods.base`` stays free of torch.
"""

from importlib import import_module

_MODULES = ("random", "spos", "fairnas", "scarlet", "darts", "fairdarts", "renas", "predictor_mse")


def load_builtin() -> None:
    for m in _MODULES:
        import_module(f"{__name__}.{m}")
