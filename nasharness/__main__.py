"""``python -m nasharness`` (also ``torchrun ... -m nasharness run ...``)."""

from .cli import main

main()
