"""The device a run trains on."""

from __future__ import annotations

import torch

from ..errors import UserError


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; a CUDA device asked for where there is none is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available here; use --device cpu.")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """``cpu``, or the GPU's name."""
    return device.type if device.type == "cpu" else torch.cuda.get_device_name(device)


def peak_gpu_mem_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
