"""``nasharness verify``: evaluate a published (or our own) ImageNet model on an ImageNet-layout validation folder.

Top-1 / top-5 with the papers' preprocessing (see :mod:`nasharness.data.imagenet`). Released checkpoints are loaded
weights-only (no code runs) and their key names are translated (:func:`~nasharness.supernet.mobilenet.
map_original_state_dict`). On a subset of the classes the 1,000 logits are restricted to the subset's ImageNet
indices before top-k, and the metric names and notes say so. The result is logged like any run (method ``verify``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .errors import UserError, torch_load_reason


def evaluate_folder(model, folder, *, device, batch_size: int = 100, resolution: int = 224,
                    progress=None) -> dict:
    """Top-1/top-5 (%) of ``model`` over ``folder`` (restricted to its classes' ImageNet indices when it is a
    subset of a 1,000-way model)."""
    from .data.imagenet import load_image, normalize  # noqa: PLC0415

    n_out = model.classifier.out_features
    k = len(folder.wnids)
    if n_out == k:
        index = None
    elif folder.imagenet_index is not None:
        if max(folder.imagenet_index) >= n_out:
            raise UserError(f"the model has {n_out} outputs but the folder's classes have ImageNet indices up to "
                            f"{max(folder.imagenet_index)}.")
        index = torch.tensor(folder.imagenet_index, device=device)
    else:
        raise UserError(f"the folder has {k} classes and the model {n_out} outputs, and no ImageNet index is known for "
                        f"the folder's wnids; put a classes.json beside the split folders or pass --synsets FILE.")
    model.eval().to(device)
    top1 = top5 = 0
    labels = torch.from_numpy(folder.labels)
    with torch.inference_mode():
        for start in range(0, len(folder), batch_size):
            files = folder.files[start:start + batch_size]
            x = normalize(np.stack([load_image(f, resolution) for f in files])).to(device)
            logits = model(x)
            if index is not None:
                logits = logits[:, index]
            y = labels[start:start + len(files)].to(device)
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            top1 += int((top[:, 0] == y).sum())
            top5 += int((top == y[:, None]).any(1).sum())
            if progress:
                progress(start + len(files), len(folder))
    n = len(folder)
    return {"top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "n": n, "classes": k,
            "restricted": index is not None}


def load_checkpoint(model, path: str | Path) -> str:
    """Load a released or our own checkpoint into ``model``; returns which layout it was."""
    from .supernet.mobilenet import map_original_state_dict  # noqa: PLC0415

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"--pretrained-path {str(path)!r} does not exist.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{str(path)!r} is not a loadable checkpoint ({torch_load_reason(exc)}); only tensors "
                        f"and plain containers are read (weights-only).") from exc
    if not isinstance(blob, dict):
        raise UserError(f"{str(path)!r} holds a {type(blob).__name__}, not a state dict.")
    state = map_original_state_dict(blob, model)
    model.load_state_dict(state)
    inner = blob.get("model_state", blob.get("model", blob))
    return "ours" if set(k.removeprefix("module.") for k in inner) == set(state) else "released"


def verify(model_name: str, val_root: str | Path, pretrained_path: str | Path, *, device: str = "cpu",
           batch_size: int = 100, synsets=None, max_per_class: int | None = None, out_dir: str = "runs",
           tracking: bool = True, tracking_uri: str | None = None, experiment: str = "nasharness", progress=None):
    """Evaluate ``model_name`` (see :data:`~nasharness.supernet.mobilenet.MODEL_NAMES`) with the weights at
    ``pretrained_path`` on ``val_root``; write and log the result. Returns the RunResult."""
    from .api import standalone_run_dir, write_and_log  # noqa: PLC0415
    from .config import RunConfig  # noqa: PLC0415
    from .data.imagenet import scan  # noqa: PLC0415
    from .envinfo import environment, peak_rss_mb, reset_peak_rss  # noqa: PLC0415
    from .results import RunResult  # noqa: PLC0415
    from .supernet.device import resolve_device  # noqa: PLC0415
    from .supernet.mobilenet import build_model, count_madds, count_params  # noqa: PLC0415

    config = RunConfig(method="verify", bench="imagenet", dataset="imagenet", seed=0, tracking=tracking,
                       tracking_uri=tracking_uri, experiment=experiment, out_dir=out_dir, device=device,
                       overrides={"model": model_name, "pretrained_path": str(pretrained_path),
                                  "val_root": str(val_root), "max_per_class": str(max_per_class or "all")})
    dev = resolve_device(device)
    folder = scan(val_root, "val", synsets=synsets, max_per_class=max_per_class)
    model = build_model(model_name)
    layout = load_checkpoint(model, pretrained_path)
    reset_peak_rss()
    t0 = time.perf_counter()
    with standalone_run_dir(config, "verify", "imagenet", "imagenet") as run_dir:  # a bad image leaves none behind
        r = evaluate_folder(model, folder, device=dev, batch_size=batch_size, progress=progress)
    wall = time.perf_counter() - t0
    ds = "imagenet" if not r["restricted"] and r["classes"] == 1000 else f"imagenet-{r['classes']}cls"
    truth = {f"{ds}/val-top1@pretrained": r["top1"], f"{ds}/val-top5@pretrained": r["top5"]}
    notes = [f"{r['n']:,} images of {r['classes']} classes from {str(folder.root)!r}; preprocessing: resize 256, "
             f"center crop 224, ImageNet mean/std"]
    if r["restricted"]:
        notes.append(f"the model's 1,000-way logits were restricted to the {r['classes']} classes present before "
                     f"top-1/top-5: accuracies are {r['classes']}-way, not comparable to full ImageNet numbers")
    result = RunResult(
        method="verify", bench="imagenet", dataset=ds, seed=0, budget="pretrained",
        protocol={"proxy": "none", "final": f"{ds}/val-top1@pretrained", "proxy_epochs": 0, "ranking_truths": [],
                  "model": model_name, "checkpoint_layout": layout, "restricted_to_classes": r["restricted"]},
        chosen={"index": -1, "arch": getattr(model, "arch", model_name)}, truth=truth, regret={}, ranking={},
        costs={"evaluate/wall_s": wall, "total/wall_s": wall, "images_per_s": r["n"] / wall,
               "peak_mem_mb": round(peak_rss_mb(), 1), "device_hours": wall / 3600.0},
        n_evaluated=r["n"], notes=notes, config=config.to_dict(), env=environment(),
        extra={"model/params": float(count_params(model)), "model/madds@224": float(count_madds(model))})
    return write_and_log(result, config, run_dir)
