"""The NAS-Bench-101 network and supernet against the benchmark's own numbers and the nasbench-pytorch reference."""

import numpy as np
import pytest
import torch

from nasharness.spaces import NB101Space
from nasharness.spaces import nb101 as space
from nasharness.supernet.nb101 import NB101Network, NB101Supernet, count_params
from nasharness.supernet.samplers import FairSampler, SpecSampler, UniformSampler
from nasharness.tabular import nb101

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bench():
    return nb101.load()


def test_param_count_equals_the_table_for_every_labeled_arch(bench):
    t = bench.to_frame()
    rows = np.flatnonzero(t["params"].notna().to_numpy())
    assert len(rows) == 1052  # 1,000 + 52 archs carry NB101's trainable_parameters
    wrong = []
    with torch.device("meta"):  # shapes only: no memory, no init cost
        for i in rows:
            n = count_params(NB101Network(bench.spec(int(i))))
            if n != int(t["params"].iat[i]):
                wrong.append((bench.key_of(int(i)), n, int(t["params"].iat[i])))
    assert not wrong, wrong[:5]


def test_nasbench_pytorch_discrepancies_explained(bench):
    """nasbench-pytorch's Network counts +1 per ``Placeholder`` (a scalar parameter it adds to each unused slot) and
    its ``ModelSpec`` keeps the matrix as a torch tensor, which ``np.sum(..., axis=0)`` in ``hash_spec`` rejects."""
    ref = pytest.importorskip("nasbench_pytorch.model")
    from nasbench_pytorch.model.model import Placeholder

    i = int(np.flatnonzero(bench.to_frame()["params"].notna().to_numpy())[0])
    spec = bench.spec(i)
    theirs = ref.Network((spec.numpy().astype(int), list(spec.ops)))  # (it cannot be built on the meta device)
    ours = NB101Network(spec)
    placeholders = sum(isinstance(m, Placeholder) for m in theirs.modules())
    assert placeholders > 0
    assert count_params(theirs) - placeholders == count_params(ours) == bench.query(i, "params")
    their_spec = ref.ModelSpec(spec.numpy().astype(int), list(spec.ops))
    assert isinstance(their_spec.matrix, torch.Tensor)
    with pytest.raises(TypeError):
        their_spec.hash_spec(list(space.OPS))
    assert space.make_spec(their_spec.matrix, their_spec.ops).hash() == bench.key_of(i)  # tensors are fine here


def test_same_function_as_nasbench_pytorch(bench):
    """With the same weights, our standalone network computes what nasbench-pytorch's computes."""
    ref = pytest.importorskip("nasbench_pytorch.model")
    torch.manual_seed(0)
    for i in (0, 17, 500):
        spec = bench.spec(i)
        theirs = ref.Network((spec.numpy().astype(int), list(spec.ops)), stem_out_channels=8,
                             num_modules_per_stack=1).eval()
        ours = NB101Network(spec, stem_channels=8, cells_per_stack=1).eval()
        src = [p for n, p in theirs.named_parameters() if not n.endswith(".a") and "dev_param" not in n]
        dst = list(ours.parameters())
        assert [tuple(p.shape) for p in src] == [tuple(p.shape) for p in dst]
        with torch.no_grad():
            for a, b in zip(src, dst, strict=True):
                b.copy_(torch.randn_like(a) * 0.1 + (1 if a.dim() == 1 else 0))
                a.copy_(b)
        x = torch.randn(2, 3, 32, 32)
        assert torch.allclose(theirs(x), ours(x), atol=1e-5)


def test_supernet_path_equals_the_extracted_standalone_network(bench):
    torch.manual_seed(0)
    sup = NB101Supernet(8, 3, 1)
    # make BN statistics non-trivial
    sup.train()
    rng = np.random.default_rng(0)
    x = torch.randn(8, 3, 32, 32)
    sampler = SpecSampler(UniformSampler)
    with torch.no_grad():
        for _ in range(5):
            sup(x, sampler.sample_paths(rng)[0])
    sup.eval()
    specs = [bench.spec(i) for i in (3, 99, 1200)] + [sampler.sample_paths(rng)[0] for _ in range(5)]
    for spec in specs:
        net = sup.extract(spec).eval()
        assert count_params(net) == count_params(NB101Network(spec, 8, 3, 1))
        with torch.no_grad():
            assert torch.equal(net(x), sup(x, spec))


def test_sliced_bn_updates_only_the_slice():
    sup = NB101Supernet(8, 1, 1).train()
    cell = sup.layers[0]
    bn = cell.ops[0][0].bn  # position 1, conv3x3, width 8
    spec = space.make_spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [space.INPUT, space.CONV3X3, space.OUTPUT])
    # input -> v1 -> output and input -> output: v1 gets all 8 channels; make a 2-output-feeder spec for a slice
    spec2 = space.make_spec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                            [space.INPUT, space.CONV3X3, space.CONV3X3, space.OUTPUT])
    before = bn.running_mean.clone()
    sup(torch.randn(4, 3, 32, 32), spec2)  # v1 has 4 channels here
    changed = (bn.running_mean != before).nonzero().flatten().tolist()
    assert changed and max(changed) < 4
    sup(torch.randn(4, 3, 32, 32), spec)
    assert (bn.running_mean != before)[4:].any()


def test_spec_sampler_yields_only_valid_specs_and_is_fair():
    rng = np.random.default_rng(1)
    sampler = SpecSampler(FairSampler)
    vertices = []
    for _ in range(2000):
        paths = sampler.sample_paths(rng)
        assert len(paths) == 3
        for p in paths:
            again = space.make_spec(p.matrix, p.ops)  # valid, and nothing left to prune
            assert again == p and p.n_edges <= space.MAX_EDGES and p.ops[0] == space.INPUT
        assert len({p.matrix for p in paths}) == 1  # one graph per step
        for v in range(1, paths[0].n_vertices - 1):  # every vertex takes every op exactly once
            assert sorted(p.ops[v] for p in paths) == sorted(space.OPS)
        vertices.append(paths[0].n_vertices)
    assert np.mean(np.array(vertices) == 7) > 0.75  # the space is mostly 7-vertex (84% of the uniform slice)


def test_sampled_hashes_hit_the_uniform_slice_at_the_expected_rate(bench):
    """Sampled specs hash to the table's keys: 8,000 draws from the space land in the 1,000-arch uniform slice about
    8000 * 1000 / 423,624 = 18.9 times when the sampler is close to uniform and the hash is right."""
    t = bench.to_frame()
    uniform = set(t.loc[t["sources"].str.contains("data-1k"), "hash"])
    rng = np.random.default_rng(7)
    sp = NB101Space()
    hits = [h for h in (sp.sample(rng).hash() for _ in range(8000)) if h in uniform]
    assert 7 <= len(hits) <= 35, len(hits)
    for h in hits[:3]:
        assert bench.spec(h).hash() == h


@pytest.mark.parametrize("n", [100, 1000])
def test_default_nb101_eval_sets_are_the_committed_ones(bench, n):
    """NB101 evaluation sets are fixed by hash (the same with the slices or the full table)."""
    import json
    from pathlib import Path

    from nasharness.supernet.evaluate import EvalConfig
    from nasharness.weightsharing.nb101 import NB101Adapter

    saved = json.loads((Path(__file__).parents[2] / "benchmarks" / "evalsets" / f"nb101-n{n}-seed0.json").read_text())
    idx, subsets = NB101Adapter(bench).eval_indices(EvalConfig(n_archs=n))
    assert sorted(bench.key_of(int(i)) for i in idx[subsets["cifar10/val@108"]]) == saved["hashes"]
    assert sorted(bench.key_of(int(i)) for i in idx[subsets["cifar10/test@108"]]) == saved["test_labeled_hashes"]
    assert len(saved["hashes"]) == n and len(saved["test_labeled_hashes"]) == 52


def test_nb101_supernet_training_resumes_identically(tmp_path):
    """Stop after one epoch, resume from the checkpoint: weights and the log of sampled specs equal one straight run."""
    from nasharness.supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (128, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 128)
    cfg = SupernetConfig(channels=4, cells_per_stage=1, epochs=2, batch_size=64)

    def trainer(ckpt):
        torch.manual_seed(0)
        sup = NB101Supernet(4, 3, 1)
        data = GPUBatches(x, y, torch.device("cpu"))
        return SupernetTrainer(sup, SpecSampler(FairSampler), data, cfg, seed=3, checkpoint_dir=ckpt, log_paths=True)

    straight = trainer(tmp_path / "a")
    straight.fit()
    first = trainer(tmp_path / "b")
    first.fit(stop_after=1)
    resumed = trainer(tmp_path / "b")
    resumed.fit(resume=True)
    assert resumed.path_counts == straight.path_counts
    assert sum(straight.path_counts.values()) == 2 * 2 * 3  # epochs x steps x fair paths
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_mutation_always_yields_a_different_valid_spec_even_from_the_smallest():
    sp = NB101Space()
    rng = np.random.default_rng(3)
    bare = space.make_spec([[0, 1], [0, 0]], [space.INPUT, space.OUTPUT])  # no single-change neighbour exists
    assert all(sp.mutate(bare, rng).n_vertices > 2 for _ in range(5))
    s = sp.sample(rng)
    for _ in range(1500):
        child = sp.mutate(s, rng)
        assert child.hash() != s.hash() and space.make_spec(child.matrix, child.ops) == child
        s = child
