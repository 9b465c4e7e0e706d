"""Search methods: one file each, registered in :data:`nasharness.plugins.METHODS`.

To add a method: write ``methods/<name>.py`` with a class decorated ``@METHODS.register("<name>")``, add the
module name to ``_MODULES`` and the registered name to ``BUILTIN_NAMES``. The modules are imported by the method
registry on its first lookup (:func:`load_builtin`), not when this package is imported: ``nasharness.methods.base``
stays free of torch.
"""

from importlib import import_module

_MODULES = ("random", "spos", "fairnas", "scarlet", "darts", "fairdarts", "renas", "predictor_mse")
#: The names the built-in modules register (``nasharness run --help`` lists them without importing the modules, which
#: import torch); ``tests/unit/test_terminal_output.py`` checks that it equals ``METHODS.names()`` once they are loaded.
BUILTIN_NAMES = ("darts", "fairdarts", "fairnas", "predictor-mse", "random", "renas", "scarlet", "spos")


def load_builtin() -> None:
    for m in _MODULES:
        import_module(f"{__name__}.{m}")
