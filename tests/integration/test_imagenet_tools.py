"""`nasharness verify` on the shared ImageNet subset with a checkpoint in the released layout, and
`nasharness imagenet prepare-val` (interrupted and re-run) on a synthetic flat validation folder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from nasharness.data import imagenet as inet
from nasharness.errors import UserError
from nasharness.supernet.mobilenet import build_model, to_original_state_dict

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def subset(data_dir):
    return inet.shared_subset(data_dir)


def test_shared_subset_layout_and_class_indices(subset):
    folder = inet.scan(subset, "val")
    assert len(folder) == 3400 and folder.wnids[0] == "n01440764"
    assert folder.imagenet_index == [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]
    assert np.bincount(folder.labels).tolist() == [340] * 10
    img = inet.load_image(folder.files[0])
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8


def test_verify_end_to_end_with_a_released_layout_checkpoint(subset, tmp_path):
    torch.manual_seed(0)
    model = build_model("fairnas_c").eval()
    ckpt = tmp_path / "FairNasC.pth.tar"
    torch.save(to_original_state_dict(model), ckpt)
    cmd = [sys.executable, "-m", "nasharness.cli", "verify", "--model", "FairNAS_C", "--val-dataset-root", str(subset),
           "--pretrained-path", str(ckpt), "--device", "cpu", "--max-per-class", "2", "--batch-size", "8",
           "--no-tracking", "--out-dir", str(tmp_path / "runs"), "--json", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["protocol"]["checkpoint_layout"] == "released" and r["protocol"]["restricted_to_classes"] is True
    assert r["n_evaluated"] == 20 and any("restricted" in n for n in r["notes"])

    # the same numbers by hand: preprocess, forward, restrict the logits to the 10 ImageNet indices
    folder = inet.scan(subset, "val", max_per_class=2)
    x = inet.normalize(np.stack([inet.load_image(f) for f in folder.files]))
    with torch.no_grad():
        logits = model(x)[:, folder.imagenet_index]
    top1 = 100.0 * float((logits.argmax(1).numpy() == folder.labels).mean())
    top5 = 100.0 * float((logits.topk(5, 1).indices.numpy() == folder.labels[:, None]).any(1).mean())
    assert r["truth"]["imagenet-10cls/val-top1@pretrained"] == pytest.approx(top1)
    assert r["truth"]["imagenet-10cls/val-top5@pretrained"] == pytest.approx(top5)

    wrong = subprocess.run([*cmd[:5], "scarlet_a", *cmd[6:]], capture_output=True, text=True)
    assert wrong.returncode == 2 and "does not fit this model" in wrong.stderr and "Traceback" not in wrong.stderr


def _flat_val(root, n=30):
    from PIL import Image

    (root / "val").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, n + 1):
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG")
    wnids = [f"n0{i:07d}" for i in range(1000)]
    ids = [int(v) for v in rng.integers(1, 6, n)]  # classes 1..5
    (root / "gt.txt").write_text("\n".join(map(str, ids)) + "\n")
    (root / "synsets.txt").write_text("\n".join(wnids) + "\n")
    return {f"ILSVRC2012_val_{i:08d}.JPEG": wnids[c - 1] for i, c in enumerate(ids, start=1)}


def test_prepare_val_is_safe_to_interrupt_and_rerun(tmp_path, monkeypatch):
    truth = _flat_val(tmp_path)
    real = os.replace
    calls = {"n": 0}

    def flaky(a, b):
        calls["n"] += 1
        if calls["n"] == 11:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the 11th move
        return real(a, b)

    monkeypatch.setattr(inet.os, "replace", flaky)
    with pytest.raises(KeyboardInterrupt):
        inet.prepare_val(tmp_path, tmp_path / "gt.txt", synsets=tmp_path / "synsets.txt")
    monkeypatch.setattr(inet.os, "replace", real)
    placed = {p.name: p.parent.name for p in (tmp_path / "val").glob("n*/*.JPEG")}
    flat = {p.name for p in (tmp_path / "val").glob("*.JPEG")}
    assert len(placed) == 10 and len(flat) == 20 and not set(placed) & flat  # nothing lost, nothing twice

    out = inet.prepare_val(tmp_path, tmp_path / "gt.txt", synsets=tmp_path / "synsets.txt")
    assert out["moved"] == 20 and out["in_place"] == 30 and out["missing"] == 0
    placed = {p.name: p.parent.name for p in (tmp_path / "val").glob("n*/*.JPEG")}
    assert placed == truth and not list((tmp_path / "val").glob("*.JPEG"))
    again = inet.prepare_val(tmp_path, tmp_path / "gt.txt", synsets=tmp_path / "synsets.txt")
    assert again["moved"] == 0 and again["in_place"] == 30


def test_prepare_val_reads_file_wnid_lists_and_rejects_unlabelled_images(tmp_path):
    truth = _flat_val(tmp_path, n=6)
    (tmp_path / "loc.csv").write_text("ImageId,PredictionString\n" + "".join(
        f"{name[:-5]},{w} 1 2 3 4\n" for name, w in truth.items()))
    cmd = [sys.executable, "-m", "nasharness.cli", "imagenet", "prepare-val", str(tmp_path), "--labels",
           str(tmp_path / "loc.csv")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["in_place"] == 6
    (tmp_path / "val" / "ILSVRC2012_val_00009999.JPEG").write_bytes(b"x")
    with pytest.raises(UserError, match="no label"):
        inet.prepare_val(tmp_path, tmp_path / "loc.csv")
    assert (tmp_path / "val" / "ILSVRC2012_val_00009999.JPEG").exists()  # nothing moved


def test_a_corrupt_jpeg_is_a_clear_error_naming_the_file(subset, tmp_path):
    import shutil

    root = tmp_path / "mini"
    for w in ("n01440764", "n02102040"):
        (root / "val" / w).mkdir(parents=True)
        for f in sorted((subset / "val" / w).iterdir())[:2]:
            shutil.copy(f, root / "val" / w / f.name)
    shutil.copy(subset / "classes.json", root / "classes.json")
    bad = root / "val" / "n02102040" / "broken.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ckpt = tmp_path / "c.pt"
    torch.save(build_model("fairnas_c").state_dict(), ckpt)
    r = subprocess.run([sys.executable, "-m", "nasharness.cli", "verify", "--model", "fairnas_c", "--val-dataset-root",
                        str(root), "--pretrained-path", str(ckpt), "--no-tracking", "--out-dir", str(tmp_path / "r"),
                        "-q"], capture_output=True, text=True)
    assert r.returncode == 2 and "broken.JPEG" in r.stderr and "cannot be decoded" in r.stderr
    assert "Traceback" not in r.stderr
