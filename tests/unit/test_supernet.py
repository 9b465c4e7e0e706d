"""Supernet, samplers and trainer: fairness properties, gradient accounting, parameter counts, determinism."""

import numpy as np
import pytest
import torch

from nasharness.spaces import nb201 as space
from nasharness.supernet.nb201 import (
    NB201Network,
    NB201Supernet,
    arch_to_path,
    count_params,
    path_to_arch,
)
from nasharness.supernet.samplers import FairSampler, UniformSampler
from nasharness.supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer, _crop

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def test_fair_sampler_covers_every_choice_exactly_once():
    s = FairSampler([5] * 6)
    rng = np.random.default_rng(0)
    for _ in range(50):
        paths = np.array(s.sample_paths(rng))
        assert paths.shape == (5, 6)
        for e in range(6):
            assert sorted(paths[:, e]) == [0, 1, 2, 3, 4]


def test_fair_sampler_permutations_are_independent_across_edges():
    s = FairSampler([5] * 6)
    rng = np.random.default_rng(1)
    same = sum(len(set(map(tuple, np.array(s.sample_paths(rng)).T))) == 1 for _ in range(200))
    assert same == 0  # identical permutations on all 6 edges would happen with prob (1/120)^5


def test_uniform_sampler_is_uniform():
    s = UniformSampler([5] * 6)
    rng = np.random.default_rng(2)
    counts = np.zeros((6, 5))
    for _ in range(5000):
        (p,) = s.sample_paths(rng)
        counts[np.arange(6), p] += 1
    assert np.abs(counts / 5000 - 0.2).max() < 0.03


def test_path_round_trip_and_standalone_forward():
    assert path_to_arch(arch_to_path(ARCH)) == ARCH
    net = NB201Network(ARCH, channels=4, cells_per_stage=1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("arch", [ARCH, space.ALL_NONE,
                                  "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                                  "nor_conv_3x3~2|"])
def test_supernet_path_params_equal_standalone_and_analytic(arch):
    sup = NB201Supernet(16, 5, 10)
    with torch.device("meta"):
        net = NB201Network(arch, 16, 5, 10)
    assert sup.path_params(arch_to_path(arch)) == count_params(net) == space.n_params(arch, 10)


def test_supernet_path_equals_standalone_function():
    """With the same weights, the supernet's path computes exactly the standalone network."""
    torch.manual_seed(0)
    sup = NB201Supernet(4, 1, 10).eval()
    net = NB201Network(ARCH, 4, 1, 10).eval()
    state = {}
    path = arch_to_path(ARCH)
    for name, tensor in net.state_dict().items():
        parts = name.split(".")
        if parts[0] == "layers" and parts[2] == "edges":  # layers.<i>.edges.<e>.<rest> -> .edges.<e>.<op>.<rest>
            e = int(parts[3])
            name = ".".join(parts[:4] + [str(path[e])] + parts[4:])
        state[name] = tensor
    missing = sup.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(sup(x, path), net(x), atol=1e-6)


def _tiny_trainer(sampler, grad_reduce="sum", seed=0, linear_skip=False, epochs=1):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 64)
    data = GPUBatches(x, y, torch.device("cpu"))
    cfg = SupernetConfig(channels=4, cells_per_stage=1, epochs=epochs, batch_size=32, grad_reduce=grad_reduce,
                         weight_decay=0.0, momentum=0.0, grad_clip=0.0)
    torch.manual_seed(seed)
    net = NB201Supernet(4, 1, 10, linear_skip=linear_skip)
    return SupernetTrainer(net, sampler, data, cfg, seed=seed, count_updates=True), data


def test_fairnas_updates_every_searchable_op_exactly_once_per_step():
    trainer, _ = _tiny_trainer(FairSampler([5] * 6))
    trainer.fit()
    steps = trainer.state.step
    assert steps == 2
    assert trainer.state.op_updates == {f"edge{e}/op{c}": steps for e in range(6) for c in range(5)}


def test_shared_parameters_get_the_sum_of_m_path_gradients():
    """FairNAS: stem/reductions/head receive m contributions, summed; 'mean' divides them by m."""
    trainer, data = _tiny_trainer(FairSampler([5] * 6))
    xb, yb = data.plain(torch.arange(32))
    model = trainer.model
    paths = trainer.sampler.sample_paths(np.random.default_rng(5))
    expected = torch.zeros_like(model.stem[0].weight)
    for p in paths:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(xb, p), yb).backward()
        expected += model.stem[0].weight.grad
    for reduce, factor in (("sum", 1.0), ("mean", 1 / 5)):
        trainer.config = trainer.config.__class__(**{**trainer.config.__dict__, "grad_reduce": reduce})
        trainer.path_rng = np.random.default_rng(5)
        model.zero_grad()
        scale = 1 / len(paths) if reduce == "mean" else 1.0
        for p in trainer.sampler.sample_paths(trainer.path_rng):
            (torch.nn.functional.cross_entropy(model(xb, p), yb) * scale).backward()
        assert torch.allclose(model.stem[0].weight.grad, expected * factor, atol=1e-5)


def test_each_fairnas_step_is_one_optimizer_update_over_m_backward_passes():
    trainer, data = _tiny_trainer(FairSampler([5] * 6))
    calls = {"step": 0}
    trainer.optimizer.register_step_post_hook(lambda *_: calls.__setitem__("step", calls["step"] + 1))
    xb, yb = data.plain(torch.arange(32))
    _, _, m = trainer.train_step(xb, yb)
    assert m == 5 and calls["step"] == 1


def test_scarlet_replaces_identity_with_a_linear_transform():
    sup = NB201Supernet(4, 1, 10, linear_skip=True)
    skip = sup.layers[0].edges[0][space.OPS.index("skip_connect")]
    assert isinstance(skip, torch.nn.Conv2d) and skip.kernel_size == (1, 1) and skip.bias is None
    plain = NB201Supernet(4, 1, 10)
    assert isinstance(plain.layers[0].edges[0][1], torch.nn.Identity)


def test_training_is_deterministic_for_a_seed():
    a, _ = _tiny_trainer(UniformSampler([5] * 6), seed=3, epochs=2)
    b, _ = _tiny_trainer(UniformSampler([5] * 6), seed=3, epochs=2)
    c, _ = _tiny_trainer(UniformSampler([5] * 6), seed=4, epochs=2)
    strip = [[{k: v for k, v in h.items() if k != "epoch_wall_s"} for h in t.fit().history] for t in (a, b, c)]
    assert strip[0] == strip[1] != strip[2]


def test_checkpoint_resume_reproduces_the_uninterrupted_run(tmp_path):
    full, _ = _tiny_trainer(FairSampler([5] * 6), seed=7, epochs=3)
    full_hist = full.fit().history
    first, _ = _tiny_trainer(FairSampler([5] * 6), seed=7, epochs=3)
    first.checkpoint_dir = tmp_path
    first.fit(stop_after=1)  # as if killed after the first epoch's checkpoint
    resumed, _ = _tiny_trainer(FairSampler([5] * 6), seed=999, epochs=3)  # other seed: the state must come from disk
    resumed.checkpoint_dir = tmp_path
    hist = resumed.fit(resume=True).history
    strip = [[{k: v for k, v in h.items() if k != "epoch_wall_s"} for h in hh] for hh in (full_hist, hist)]
    assert strip[0] == strip[1]
    for (k, v1), v2 in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(v1, v2), k


def test_crop_and_flip_augmentation():
    x = torch.arange(2 * 3 * 40 * 40).reshape(2, 3, 40, 40)
    c = _crop(x, torch.tensor([0, 8]), torch.tensor([3, 1]))
    assert torch.equal(c[0], x[0, :, 0:32, 3:35]) and torch.equal(c[1], x[1, :, 8:40, 1:33])
    rng = np.random.default_rng(0)
    data = GPUBatches(rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.zeros(8, int), torch.device("cpu"))
    xb, yb = data.augmented(torch.arange(8), torch.Generator().manual_seed(0))
    assert xb.shape == (8, 3, 32, 32) and xb.dtype == torch.float32 and yb.shape == (8,)


def test_dead_nodes_are_skipped_without_changing_the_output():
    """Node 1 feeds only 'none' edges here, so its op is never computed; the output equals the full computation."""
    from nasharness.supernet.nb201 import live_nodes

    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    ops = space.parse_arch(arch)
    assert live_nodes(ops) == (True, False, True, True)
    torch.manual_seed(0)
    cell = NB201Network(arch, 4, 1).layers[0].eval()
    x = torch.randn(2, 4, 8, 8)
    calls = []
    hook = cell.edges[0].register_forward_hook(lambda *a: calls.append(1))
    fast = cell(x)
    hook.remove()
    assert calls == []  # the op on the dead node's only incoming edge never ran
    n1 = cell.edges[0](x)
    n2 = cell.edges[1](x)  # + none(n1)
    full = cell.edges[3](x) + cell.edges[5](n2)  # + none(n1)
    assert torch.allclose(fast, full) and n1.abs().sum() > 0


def test_inference_bn_folding_is_the_same_function():
    torch.manual_seed(0)
    sup = NB201Supernet(4, 1, 10)
    sup.train()
    for _ in range(3):  # give the BNs non-trivial running statistics
        sup(torch.randn(8, 3, 32, 32), arch_to_path(ARCH))
    sup.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        plain = sup(x, arch_to_path(ARCH))
    with torch.inference_mode():
        folded = sup(x, arch_to_path(ARCH))
    assert torch.allclose(plain, folded, atol=1e-5)


def _tiny_supernet_and_images(seed: int, n_valid: int, channels_last: bool = False):
    """A C=4, N=1 supernet (torch seed 0) and random calibration (64) / validation images."""
    torch.manual_seed(0)
    rng = np.random.default_rng(seed)

    def images(n):
        return GPUBatches(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n),
                          torch.device("cpu"), channels_last=channels_last)
    return NB201Supernet(4, 1, 10), images(64), images(n_valid)


def test_inherited_accuracy_does_not_depend_on_evaluation_order():
    """Why the one-shot pipeline may memoize scores: BN is re-estimated per arch, so history does not matter."""
    from nasharness.supernet.evaluate import EvalConfig, InheritedEvaluator

    sup, calib, valid = _tiny_supernet_and_images(0, 64)
    ev = InheritedEvaluator(sup, calib, valid, EvalConfig(calib_batches=2, calib_batch_size=32, eval_batch_size=32))
    a, b = arch_to_path(ARCH), arch_to_path(space.ALL_NONE)
    first = ev.accuracy(a)
    ev.accuracy(b)
    assert ev.accuracy(a) == first


def test_validation_images_are_scored_in_a_fixed_mixed_order():
    """The image sources are sorted by class. The evaluator scores the validation images in a fixed random order, so
    the first k of them (the scoring study's image counts) and each batch (training-mode BN) mix the classes; in eval
    mode the order changes no accuracy."""
    from nasharness.supernet.evaluate import EvalConfig, InheritedEvaluator

    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    y = np.repeat(np.arange(10), 20)  # class-sorted, like train/<class>/NNNN.jpg
    sup, calib, _ = _tiny_supernet_and_images(2, 8)
    valid = GPUBatches(x, y, torch.device("cpu"))
    cfg = EvalConfig(calib_batches=2, calib_batch_size=32, eval_batch_size=50, bn_mode="running")
    ev = InheritedEvaluator(sup, calib, valid, cfg)
    assert len(set(ev.valid_y[:20].tolist())) >= 7  # in index order: one class
    assert [len(set(ev.valid_y[i:i + 50].tolist())) for i in range(0, 200, 50)] == [10, 10, 10, 10]
    # the same images with their own labels, in the same order for every evaluator
    pairs = {(bytes(img.numpy().tobytes()), int(lab)) for img, lab in zip(valid.plain(torch.arange(200))[0],
                                                                            valid.y, strict=True)}
    assert {(bytes(img.numpy().tobytes()), int(lab)) for img, lab in zip(ev.valid_x, ev.valid_y, strict=True)} == pairs
    assert torch.equal(InheritedEvaluator(sup, calib, valid, cfg).valid_y, ev.valid_y)
    # eval mode: the accuracy is the index-order pass's
    path = arch_to_path(ARCH)
    sup.eval()
    with torch.inference_mode():
        plain = [int((sup(valid.plain(torch.arange(i, i + 50))[0], path).argmax(1) == valid.y[i:i + 50]).sum())
                 for i in range(0, 200, 50)]
    assert ev.accuracy(path) == 100.0 * sum(plain) / 200


def test_checkpoint_every_n_epochs(tmp_path):
    import numpy as np
    import torch

    from nasharness.supernet.nb201 import NB201Supernet
    from nasharness.supernet.samplers import UniformSampler
    from nasharness.supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer

    x = np.zeros((64, 32, 32, 3), np.uint8)
    saved = []
    cfg = SupernetConfig(channels=4, cells_per_stage=1, epochs=5, batch_size=32, checkpoint_every=2)
    t = SupernetTrainer(NB201Supernet(4, 1), UniformSampler([5] * 6), GPUBatches(x, np.zeros(64, int),
                        torch.device("cpu")), cfg, seed=0, checkpoint_dir=tmp_path)
    t.save = lambda: saved.append(t.state.epoch)
    t.fit()
    assert saved == [2, 4, 5]  # every 2 epochs, and the last


def test_per_image_scores_and_the_loss_score():
    """per_image is one validation pass: its correct count is the accuracy, its losses are the cross-entropy of the
    model's outputs after the same BN preparation; score=loss is minus their mean, in every BN mode."""
    import pytest
    from torch.nn import functional as F

    from nasharness.errors import ConfigError
    from nasharness.supernet.evaluate import IMAGE_ORDER_SEED, EvalConfig, InheritedEvaluator

    sup, calib, valid = _tiny_supernet_and_images(1, 48)
    path = arch_to_path(ARCH)
    order = torch.from_numpy(np.random.default_rng(IMAGE_ORDER_SEED).permutation(48))  # the evaluator's image order
    for bn in ("recalibrate", "train", "running"):
        cfg = EvalConfig(calib_batches=2, calib_batch_size=32, eval_batch_size=16, bn_mode=bn)
        ev = InheritedEvaluator(sup, calib, valid, cfg)
        correct, losses = ev.per_image(path)
        assert correct.shape == losses.shape == (48,)
        assert 100.0 * correct.mean() == pytest.approx(ev.accuracy(path))
        # by hand: the same preparation, then the plain forward and cross-entropy per image
        ev._prepare(path)
        with torch.no_grad():
            logits = torch.cat([sup(valid.plain(order[i:i + 16])[0], path) for i in range(0, 48, 16)])
        want = F.cross_entropy(logits.double(), valid.y[order], reduction="none").numpy()
        np.testing.assert_allclose(losses, want, rtol=1e-5)
        loss_ev = InheritedEvaluator(sup, calib, valid, EvalConfig(calib_batches=2, calib_batch_size=32,
                                                                   eval_batch_size=16, bn_mode=bn, score="loss"))
        assert loss_ev.score(path) == pytest.approx(-want.mean(), rel=1e-5)
        ev.restore()
    with pytest.raises(ConfigError, match="score must be one of accuracy, loss"):
        EvalConfig(score="top5")


def test_node_dependencies_of_the_cell():
    from nasharness.supernet.nb201 import NODE_EDGES

    assert NODE_EDGES == ((), (0,), (0, 1, 2), (0, 1, 2, 3, 4, 5))


def _shared_prefix_case(channels_last: bool):
    """A C=4, N=2 supernet with non-trivial BN parameters and statistics, images, and paths that share prefixes,
    repeat, and have dead nodes."""
    _, calib, valid = _tiny_supernet_and_images(3, 48, channels_last)
    gen = torch.Generator().manual_seed(1)
    sup = NB201Supernet(4, 2, 10)
    for m in sup.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0, 0.2, generator=gen)
            m.running_mean.normal_(0, 0.3, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
    if channels_last:
        sup = sup.to(memory_format=torch.channels_last)
    rng = np.random.default_rng(4)
    paths = [tuple(int(o) for o in rng.integers(0, 5, 6)) for _ in range(30)]
    paths += [(2, 3, 1, *p[3:]) for p in paths[:8]]  # shared first-cell nodes 1 and 2
    paths += [paths[0], (0,) * 6, (1,) * 6, (0, 0, 0, 1, 0, 0), (3, 0, 0, 0, 0, 2)]  # a repeat, dead nodes
    return sup, calib, valid, paths


@pytest.mark.parametrize("channels_last", [False, True])
def test_scoring_many_paths_with_shared_prefixes_gives_the_same_numbers(channels_last):
    """many / per_image_many compute the stem and the first cell's nodes 1 and 2 once per image batch for the paths
    that share them: every score, correctness and loss is bit-for-bit the one-path-at-a-time evaluator's, in every
    BN mode, in the caller's order; and the sharing happens (the stem runs once per batch, not once per path)."""
    from nasharness.supernet.evaluate import EvalConfig, InheritedEvaluator

    sup, calib, valid, paths = _shared_prefix_case(channels_last)
    stem_calls = []
    sup.stem.register_forward_hook(lambda *a: stem_calls.append(1))
    for bn in ("recalibrate", "train", "running"):
        for score in ("accuracy", "loss"):
            cfg = EvalConfig(calib_batches=2, calib_batch_size=32, eval_batch_size=16, bn_mode=bn, score=score)
            plain = InheritedEvaluator(sup, calib, valid, cfg)
            plain.share_prefixes = False
            shared = InheritedEvaluator(sup, calib, valid, cfg)
            saved = shared.bn_state()
            stem_calls.clear()
            want = plain.many(paths)
            assert len(stem_calls) == len(paths) * (5 if bn == "recalibrate" else 3)
            shared.load_bn_state(saved)
            stem_calls.clear()
            got = shared.many(paths)
            assert len(stem_calls) == (5 if bn == "recalibrate" else 3)  # 2 calibration + 3 validation batches
            assert got.tobytes() == want.tobytes(), (bn, score)
            assert len(set(want.tolist())) > 3  # the paths score differently
            if score == "accuracy":  # the per-image pass does not depend on the score
                shared.load_bn_state(saved)
                c1, l1 = shared.per_image_many(paths)
                shared.load_bn_state(saved)
                c0, l0 = plain.per_image_many(paths)
                assert np.array_equal(c1, c0) and l1.tobytes() == l0.tobytes()
            shared.restore()
            shared.load_bn_state(saved)


def test_forward_memo_is_forward():
    """The supernet's forward_memo on one input, over paths that share the first cell's nodes or not, in train and
    eval mode: bit-for-bit forward's outputs; the memo keeps one value a node."""
    sup, calib, _, paths = _shared_prefix_case(False)
    x = calib.plain(torch.arange(16))[0]
    for train in (True, False):
        sup.train(train)
        memo: dict = {}
        with torch.inference_mode():
            for p in sorted(paths):
                assert torch.equal(sup.forward_memo(x, p, memo), sup(x, p)), p
        assert set(memo) <= {"stem", 1, 2}
