"""Data-parallel supernet training: 2 CPU processes (gloo) give the single-process result for the same global batch."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from nasharness.supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer

N_IMG = 128
CFG = SupernetConfig(channels=4, cells_per_stage=1, epochs=2, batch_size=32, lr=0.05, grad_clip=5.0)


def _train(space: str, seed: int = 0) -> dict:
    from nasharness.supernet.nb101 import NB101Supernet
    from nasharness.supernet.nb201 import NB201Supernet
    from nasharness.supernet.samplers import FairSampler, SpecSampler

    # float64: in float32 the 1e-7 rounding differences between a 32-image batch and two 16-image shards flip ReLU
    # kinks and max-pool ties on random-noise images, which real training shrugs off but a tight equality test cannot
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (N_IMG, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, N_IMG)
    torch.manual_seed(seed)
    if space == "201":
        model = NB201Supernet(4, 1, 10)
        sampler = FairSampler(model.choices_per_edge)
    else:
        model = NB101Supernet(4, 3, 1, 10)
        sampler = SpecSampler(FairSampler)
    trainer = SupernetTrainer(model, sampler, GPUBatches(x, y, torch.device("cpu")), CFG, seed=7)
    try:
        trainer.fit()
    finally:
        torch.set_default_dtype(torch.float32)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world: int, port: int, space: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        state = _train(space)
        if rank == 0:
            torch.save(state, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("space", ["201", "101"])
def test_two_gloo_processes_equal_one_process(tmp_path, space):
    torch.set_num_threads(1)
    single = _train(space)
    out = tmp_path / "rank0.pt"
    mp.start_processes(_worker, args=(2, _free_port(), space, str(out)), nprocs=2, join=True, start_method="spawn")
    dist_state = torch.load(out, weights_only=True)
    assert dist_state.keys() == single.keys()
    worst = 0.0
    for k, v in single.items():
        if v.dtype.is_floating_point:
            worst = max(worst, float((v - dist_state[k]).abs().max()))
        else:
            assert torch.equal(v, dist_state[k]), k  # BN batch counters
    assert worst < 1e-9, worst
    # and training moved the weights (the comparison is not between two untouched networks)
    torch.manual_seed(0)
    from nasharness.supernet.nb201 import NB201Supernet

    if space == "201":
        fresh = NB201Supernet(4, 1, 10).state_dict()
        assert max(float((fresh[k] - single[k]).abs().max()) for k in fresh if fresh[k].is_floating_point()) > 1e-2


def test_global_batch_must_divide_over_ranks(monkeypatch):
    from nasharness.errors import ConfigError
    from nasharness.supernet import distributed
    from nasharness.supernet.nb201 import NB201Supernet
    from nasharness.supernet.samplers import UniformSampler

    monkeypatch.setattr(distributed, "world", lambda: (0, 3))
    x = np.zeros((64, 32, 32, 3), np.uint8)
    with pytest.raises(ConfigError, match="multiple of 3"):
        SupernetTrainer(NB201Supernet(4, 1), UniformSampler([5] * 6), GPUBatches(x, np.zeros(64, int),
                        torch.device("cpu")), CFG, seed=0)


@pytest.mark.integration
def test_torchrun_runs_a_one_shot_search_data_parallel(tmp_path, data_dir):
    """`torchrun --nproc-per-node 2 -m nasharness run ...`: two gloo processes train, rank 0 alone writes the run."""
    import json
    import subprocess
    import sys

    tiny = ["--set", "channels=4", "--set", "epochs=1", "--set", "n_train=256", "--set", "n_valid=64", "--set",
            "n_archs=8", "--set", "population=2", "--set", "sample_size=1", "--set", "cycles=1", "--set",
            "batch_size=64", "--set", "threads=1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "nasharness", "run", "-m", "fairnas", "-b", "201", "--device",
           "cpu", "--no-tracking", "-q", "--out-dir", str(tmp_path / "runs"), *tiny]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()  # one run directory, not one per rank
    result = json.loads((run_dir / "result.json").read_text())
    assert result["protocol"]["data_parallel_processes"] == 2
    assert (run_dir / "checkpoints" / "last.pt").exists()
    assert out.stdout.count("result:") == 1  # rank 0 reports
