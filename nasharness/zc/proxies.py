"""Zero-cost proxies at initialisation, for any ``torch.nn.Module`` classifier (NCHW images in, logits out; a tuple
output such as ``(logits, aux)`` counts by its first element).

What each proxy computes. "Weights" are the ``weight`` tensors of the conv (``_ConvNd``) and ``Linear`` modules that
require grad; sums run over those layers. Definitions checked against SamsungLabs/zero-cost-nas
(``foresight/pruners/measures``), automl/NASLib (``naslib/predictors/utils/pruners/measures``),
BayesWatch/nas-without-training (``score_networks.py``) and idstcv/ZenNAS (``ZeroShotProxy/compute_zen_score.py``):

* ``synflow`` (Tanaka et al. 2020; Abdelfattah et al. 2021): every state-dict entry replaced by its absolute value
  (sign linearisation), the net in ``synflow_dtype`` (float64), BN layers per ``synflow_bn`` (default the
  identity, as zero-cost-nas/NASLib ``synflow``), one all-ones input of the batch's image shape,
  R = sum(logits); score = sum over weights of |theta * dR/dtheta|.
* ``snip`` (Lee et al. 2019, as zero-cost-nas): sum |dL/dw * w| (the gradient w.r.t. a multiplicative mask of ones).
* ``grad_norm`` (zero-cost-nas): sum over layers of ||dL/dW||_2.
* ``grasp`` (Wang et al. 2020, as zero-cost-nas with T = 1): g = dL/dW (detached), Hg = d(g . dL/dW)/dW,
  score = sum of -(W * Hg).
* ``fisher`` (Theis et al. 2018, Turner et al. 2020, as zero-cost-nas): for every output a of a module named in
  ``fisher_modules`` (default Conv2d and Linear: the pre-BN conv outputs and the logits), with g = dL/da:
  sum over channels of 0.5 * mean over the batch of (sum over spatial positions of a * g)^2.
* ``jacov`` (Mellor et al. 2020, v1; zero-cost-nas ``jacob_cov``): J = d(sum of logits)/dx per image, C the
  correlation matrix of the rows of J, score = -sum_i (log(lambda_i + k) + 1/(lambda_i + k)), k = 1e-5 (NaN when
  C is undefined, e.g. a constant row).
* ``naswot`` (Mellor et al. 2021): for each ReLU-family call (``relu``, ``relu_``, ``relu6``, ``leaky_relu``:
  module or functional, caught with a ``TorchFunctionMode``), the binary code c = (input > 0) per image,
  K += c c' + (1-c)(1-c)'; score = log|det K| (``slogdet``).
* ``zen`` (Lin et al. 2021, as ZenNAS): conv/linear weights ~ N(0, 1), biases 0, BN/GroupNorm affine (1, 0);
  x, e ~ N(0, 1) of the batch's shape; f = the pre-global-pool feature map; BN in train mode;
  score = log(mean over images of sum |f(x) - f(x + gamma e)|) + sum over BN layers of log sqrt(mean running_var)
  (the running variance after those two forwards, as the ZenNAS code; the paper writes the BN batch std).
* ``l2_norm`` (NASLib): sum over layers of ||W||_2.
* ``params``: number of trainable parameters (``requires_grad``), every module.
* ``flops``: multiply-adds of one image at the batch's resolution, from ``torch.utils.flop_counter`` (which counts
  2 flops per multiply-add, halved here): conv, matmul/linear, attention; not BN, activations, pooling or adds.

:func:`compute` builds the network once and shares the work between proxies; :func:`compute_reference` builds a
fresh network per proxy and shares nothing. Both give identical numbers.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from ..errors import UserError
from .config import PROXIES, ZCConfig

__all__ = ["PROXIES", "ZCConfig", "compute", "compute_reference", "naswot_kernel", "jacov_score"]

JACOV_K = 1e-5
_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
_BN = nn.modules.batchnorm._BatchNorm
_RELU_FUNCS = frozenset({F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.relu6,
                         F.leaky_relu})
#: proxies that need the loss gradient w.r.t. the weights (pass A's backward)
_LOSS_GRAD = frozenset({"snip", "grad_norm", "grasp", "fisher"})
_PASS_A = _LOSS_GRAD | {"jacov", "naswot"}
#: proxies that run no backward and read only the initial network
_STATIC = ("params", "l2_norm", "flops")

ModelFactory = Callable[[], nn.Module] | nn.Module
Features = Callable[[nn.Module, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------------- definitions

def naswot_kernel(codes: torch.Tensor) -> torch.Tensor:
    """NASWOT's kernel of one layer: ``codes`` [N, D] in {0, 1} -> K = c c' + (1-c)(1-c)' (float64, [N, N]):
    K_ij = the number of units on which images i and j agree (D minus their Hamming distance).

    Computed as 2 c c' - s_i - s_j + D with s the row sums (one matmul instead of two). The matmul runs in float32
    when D < 2**24, where every partial sum of 0/1 products is an exactly representable integer."""
    c = codes.reshape(codes.shape[0], -1)
    d = c.shape[1]
    c = c.to(torch.float32 if d < 2**24 else torch.float64)
    cc = (c @ c.T).double()
    s = c.sum(1, dtype=torch.float64)
    return 2 * cc - s[:, None] - s[None, :] + d


def jacov_score(jacobian: np.ndarray | torch.Tensor, k: float = JACOV_K) -> float:
    """Mellor et al. (v1) / zero-cost-nas ``jacob_cov``: -sum(log(lambda + k) + 1/(lambda + k)) over the eigenvalues
    of the correlation matrix of the rows of ``jacobian`` [N, D]. NaN where the correlation is undefined."""
    j = jacobian.detach().cpu().double().numpy() if isinstance(jacobian, torch.Tensor) else np.asarray(jacobian)
    j = j.reshape(j.shape[0], -1).astype(np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        corr = np.corrcoef(j)
        if not np.all(np.isfinite(corr)):
            return math.nan
        v = np.linalg.eigvalsh(corr)
        return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def _sum(values: Iterable[torch.Tensor]) -> float:
    """Exact sum (``math.fsum``) of per-layer sums accumulated in float64: deterministic."""
    return math.fsum(float(v.sum(dtype=torch.float64)) for v in values)


def _snip(weights, grads) -> float:
    return _sum((w.detach() * g).abs() for w, g in zip(weights, grads, strict=True) if g is not None)


def _grad_norm(grads) -> float:
    return math.fsum(float(g.norm().double()) for g in grads if g is not None)


def _slogdet(k: torch.Tensor) -> float:
    return float(torch.linalg.slogdet(k)[1])


# ---------------------------------------------------------------------------------------------------- helpers

def _logits(out) -> torch.Tensor:
    while isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise UserError(f"the network must return logits (a tensor, or a tuple whose first element is one); it "
                        f"returned {type(out).__name__}.")
    return out


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Run with the global RNG seeded, restoring the caller's RNG state afterwards."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    seen, out = set(), []
    for m in model.modules():
        w = getattr(m, "weight", None)
        if isinstance(m, _WEIGHTED) and isinstance(w, torch.Tensor) and w.requires_grad and id(w) not in seen:
            seen.add(id(w))
            out.append(m)
    return out


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in _weight_layers(model)]


def _trainable(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _set_mode(model: nn.Module, bn: str) -> None:
    """Everything in eval mode except the batch-norm layers, which follow ``bn`` ('train' or 'eval')."""
    model.eval()
    if bn == "train":
        for m in model.modules():
            if isinstance(m, _BN):
                m.train()


def _init(model: nn.Module, how: str) -> None:
    if how == "default":
        return
    fn = {"kaiming": nn.init.kaiming_normal_, "xavier": nn.init.xavier_normal_}[how]
    with torch.no_grad():
        for m in _weight_layers(model):
            fn(m.weight)


def _make_factory(model_factory: ModelFactory) -> Callable[[], nn.Module]:
    if isinstance(model_factory, nn.Module):
        template = model_factory
        return lambda: copy.deepcopy(template)
    if not callable(model_factory):
        raise UserError(f"model_factory must be a zero-argument callable returning an nn.Module (or a module to "
                        f"copy); got {type(model_factory).__name__}.")
    return model_factory


def _build(factory: Callable[[], nn.Module], cfg: ZCConfig, device: torch.device) -> nn.Module:
    with _seeded(cfg.init_seed, device):
        model = factory()
        if not isinstance(model, nn.Module):
            raise UserError(f"model_factory() must return a torch.nn.Module; it returned {type(model).__name__}.")
        _init(model, cfg.init)
    return model.to(device)


def _names(names) -> list[str]:
    if names is None:
        return list(PROXIES)
    if isinstance(names, str):
        names = [names]
    names = list(dict.fromkeys(names))
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise UserError(f"unknown zero-cost proxy {', '.join(map(repr, bad))}; known: {', '.join(PROXIES)}.")
    if not names:
        raise UserError(f"no proxy requested; choose from {', '.join(PROXIES)}.")
    return names


def _prepare(batches, cfg: ZCConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One minibatch: the first ``n_batches`` batches, each cut to ``batch_size`` images, concatenated.

    ``batches``: an image tensor, an ``(x, y)`` pair, or an iterable (list, DataLoader) of such pairs."""
    if batches is None:
        raise UserError("no data: pass batches= an image tensor, an (x, y) pair or an iterable of (x, y) batches.")
    if isinstance(batches, torch.Tensor) or (isinstance(batches, (tuple, list)) and len(batches) == 2
                                             and isinstance(batches[0], torch.Tensor)
                                             and (batches[1] is None or isinstance(batches[1], torch.Tensor))):
        batches = [batches]
    xs, ys = [], []
    for i, b in enumerate(batches):
        if i == cfg.n_batches:
            break
        x, y = (b, None) if isinstance(b, torch.Tensor) else (b[0], b[1] if len(b) > 1 else None)
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise UserError(f"batch {i}: the inputs must be a floating-point tensor of images (N, C, H, W); got "
                            f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else ' of ' + str(x.dtype)}.")
        if x.shape[0] < cfg.batch_size:
            raise UserError(f"batch {i} has {x.shape[0]} images but ZCConfig.batch_size is {cfg.batch_size}; pass "
                            f"larger batches or lower batch_size.")
        xs.append(x[:cfg.batch_size])
        ys.append(None if y is None else y[:cfg.batch_size])
    if len(xs) < cfg.n_batches:
        raise UserError(f"ZCConfig.n_batches is {cfg.n_batches} but only {len(xs)} batch(es) were given.")
    x = torch.cat(xs)
    y = None if any(t is None for t in ys) else torch.cat(ys).to(x.device)
    return x, y


def _loss(out: torch.Tensor, y: torch.Tensor | None, cfg: ZCConfig) -> torch.Tensor:
    if y is None:
        raise UserError("snip, grad_norm, grasp and fisher need labels: pass (x, y) batches.")
    return F.cross_entropy(out, y)


def _pristine(model: nn.Module) -> dict:
    return copy.deepcopy(model.state_dict())


class _Recorder(TorchFunctionMode):
    """Watches every torch function call of a forward pass: hands the input of each ReLU-family call to ``on_relu``
    and, with ``pool=True``, remembers the pre-global-pool feature map: the 4-D input of the last call that reduces
    a 4-D tensor with spatial extent to one without (``x.mean((2, 3))``, ``adaptive_avg_pool2d(x, 1)``,
    ``flatten``...)."""

    def __init__(self, on_relu=None, pool: bool = False):
        super().__init__()
        self.on_relu, self.pool = on_relu, pool
        self.feature: torch.Tensor | None = None
        self.feature_1x1: torch.Tensor | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.on_relu is not None and func in _RELU_FUNCS:
            inp = args[0] if args else kwargs.get("input")
            if isinstance(inp, torch.Tensor):
                self.on_relu(inp)
        out = func(*args, **kwargs)
        if self.pool and args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            x = args[0]
            if x.dim() == 4 and out.dim() >= 1 and out.shape[0] == x.shape[0] and x.is_floating_point() and (
                    out.dim() <= 2 or (out.dim() == 4 and out.shape[2] * out.shape[3] == 1)):
                if x.shape[2] * x.shape[3] > 1:
                    self.feature = x
                elif self.feature is None:
                    self.feature_1x1 = x
        return out


class _TwiceDifferentiable(TorchFunctionMode):
    """Runs ``hardsigmoid`` / ``hardswish`` (SE blocks, h-swish: the SCARLET space) as the clamps they are, which
    autograd can differentiate twice (GraSP's Hessian-vector product; torch has no double backward for them). The
    same arithmetic as torch's kernels ((x + 3) clamped to [0, 6], times x for h-swish, divided by 6); in every
    data-proxy forward, so a proxy's value does not depend on which others are computed with it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.hardsigmoid or func is F.hardswish:
            x = args[0] if args else kwargs["input"]
            gate = torch.clamp(x + 3.0, 0.0, 6.0)
            return gate / 6.0 if func is F.hardsigmoid else x * gate / 6.0
        return func(*args, **kwargs)


class _NaswotAccumulator:
    def __init__(self, n: int):
        self.n = n
        self.k = torch.zeros(n, n, dtype=torch.float64)

    def __call__(self, inp: torch.Tensor) -> None:
        if inp.dim() >= 1 and inp.shape[0] == self.n:
            self.k += naswot_kernel((inp.detach() > 0).reshape(self.n, -1)).cpu()


def _matches(module: nn.Module, names: tuple[str, ...]) -> bool:
    return any(c.__name__ in names for c in type(module).__mro__)


class _FisherHooks:
    """Forward hooks on the modules named in ``fisher_modules``: each output a gets a tensor hook that, while
    ``active``, adds sum over channels of 0.5 * mean_n (sum over spatial of a * dL/da)^2. The activation is cloned
    (an in-place op after the module, e.g. ReLU(inplace=True), would otherwise change it); a hook registered
    before an in-place op receives the gradient w.r.t. the value before it."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]):
        self.active = False
        self.values: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._forward) for m in model.modules() if _matches(m, names)]

    def _forward(self, module, inputs, out):
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            return
        act = out.detach().clone()

        def hook(grad):
            if self.active:
                g = act * grad.detach()
                if g.dim() > 2:
                    g = g.sum(tuple(range(2, g.dim())))
                self.values.append(g.pow(2).mean(0).mul(0.5))

        out.register_hook(hook)

    def remove(self) -> float:
        for h in self.handles:
            h.remove()
        return _sum(self.values)


# ---------------------------------------------------------------------------------------------------- passes

def _static(model: nn.Module, x: torch.Tensor, name: str) -> float:
    if name == "params":
        return float(sum(p.numel() for p in _trainable(model)))
    if name == "l2_norm":
        return math.fsum(float(w.detach().norm().double()) for w in _weights(model))
    if name == "flops":  # one image, every module in eval mode, no autograd: multiply-adds = counted flops / 2
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(x[:1])
        return fc.get_total_flops() / 2
    raise AssertionError(name)


def _pass_a(model: nn.Module, x, y, cfg: ZCConfig, want: set[str], seed_device, *,
            grasp_in_pass: bool = True) -> tuple[dict, list | None]:
    """One forward of the minibatch serving every requested proxy of ``_PASS_A``.

    NASWOT's codes are read during the forward; one backward of the loss gives the weight gradients (snip,
    grad_norm, grasp's g) and, through tensor hooks, the gradients of fisher's activations; with grasp (and
    ``grasp_in_pass``) that backward builds its graph (``create_graph``) and a second backward of g . dL/dW gives
    Hg, instead of GraSP's second forward; one backward of the sum of the logits gives jacov's Jacobian.
    Returns the values and the conv/linear weight gradients (for a separate grasp pass)."""
    res: dict[str, float] = {}
    n = x.shape[0]
    _set_mode(model, cfg.bn_mode)
    loss_grad = bool(want & _LOSS_GRAD)
    jac = "jacov" in want
    grasp = "grasp" in want and grasp_in_pass
    xin = x.detach().requires_grad_(True) if jac else x
    fisher = _FisherHooks(model, cfg.fisher_modules) if "fisher" in want else None
    acc = _NaswotAccumulator(n) if "naswot" in want else None
    params = _trainable(model) if loss_grad else []
    if loss_grad and not params:
        raise UserError("the network has no trainable parameters; snip, grad_norm, grasp and fisher need some.")
    grads = None
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.set_grad_enabled(loss_grad or jac))
            stack.enter_context(_seeded(cfg.init_seed, seed_device))
            stack.enter_context(_TwiceDifferentiable())
            if acc is not None:
                stack.enter_context(_Recorder(on_relu=acc))
            out = _logits(model(xin))
        if acc is not None:
            res["naswot"] = _slogdet(acc.k)
        if loss_grad:
            loss = _loss(out, y, cfg)
            if fisher is not None:
                fisher.active = True
            all_grads = torch.autograd.grad(loss, params, retain_graph=jac or grasp, create_graph=grasp,
                                            allow_unused=True)
            if fisher is not None:
                fisher.active = False
            by_id = {id(p): g for p, g in zip(params, all_grads, strict=True)}
            weights = _weights(model)
            graph_grads = [by_id[id(w)] for w in weights]
            grads = [None if g is None else g.detach() for g in graph_grads]
            if "snip" in want:
                res["snip"] = _snip(weights, grads)
            if "grad_norm" in want:
                res["grad_norm"] = _grad_norm(grads)
            if grasp:
                res["grasp"] = _grasp_score(weights, grads, graph_grads, retain_graph=jac)
                del graph_grads, all_grads, by_id
        if jac:
            (jx,) = torch.autograd.grad(out, xin, grad_outputs=torch.ones_like(out), allow_unused=True)
            res["jacov"] = jacov_score(jx if jx is not None else torch.zeros_like(x))
    finally:
        fis = fisher.remove() if fisher is not None else None
    if fisher is not None:
        res["fisher"] = fis
    return res, grads


def _grasp_score(weights, g, graph_grads, *, retain_graph: bool = False) -> float:
    """-sum(W * Hg) with Hg = d(g . dL/dW)/dW: ``g`` the detached gradient, ``graph_grads`` dL/dW with its graph."""
    z = None
    for a, f in zip(g, graph_grads, strict=True):
        if a is not None and f is not None and f.requires_grad:
            t = (a * f).sum()
            z = t if z is None else z + t
    if z is None:
        return 0.0
    hg = torch.autograd.grad(z, weights, retain_graph=retain_graph, allow_unused=True)
    return _sum(-(w.detach() * h) for w, h in zip(weights, hg, strict=True) if h is not None)


def _grasp(model: nn.Module, x, y, cfg: ZCConfig, grads: list, seed_device) -> float:
    """GraSP's second pass as zero-cost-nas runs it: a new forward, dL/dW with its graph, then Hg."""
    _set_mode(model, cfg.bn_mode)
    weights = _weights(model)
    with _seeded(cfg.init_seed, seed_device), _TwiceDifferentiable():
        out = _logits(model(x))
    loss = _loss(out, y, cfg)
    gf = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    return _grasp_score(weights, grads, gf)


def _gaussian_init(model: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _WEIGHTED):
                nn.init.normal_(m.weight, generator=gen)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (_BN, nn.GroupNorm)) and getattr(m, "weight", None) is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def _pre_gap(model: nn.Module, x: torch.Tensor, features: Features | None) -> torch.Tensor:
    if features is not None:
        f = features(model, x)
    else:
        rec = _Recorder(pool=True)
        with rec:
            model(x)
        f = rec.feature if rec.feature is not None else rec.feature_1x1
        if f is None:
            raise UserError("zen needs the feature map before the global pool, and the forward pass reduced no 4-D "
                            "tensor to a vector; pass features=lambda model, x: <the (N, C, H, W) map>.")
    if not isinstance(f, torch.Tensor) or f.dim() != 4:
        raise UserError(f"zen's pre-global-pool features must be an (N, C, H, W) tensor; got "
                        f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}.")
    return f


def _zen(model: nn.Module, x: torch.Tensor, cfg: ZCConfig, features: Features | None, seed_device) -> float:
    gen = torch.Generator(device=x.device)
    gen.manual_seed(cfg.init_seed)
    _set_mode(model, "train")
    scores = []
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype)
    with torch.no_grad(), _seeded(cfg.init_seed, seed_device):
        for _ in range(cfg.zen_repeat):
            _gaussian_init(model, gen)
            a = torch.randn(x.shape, generator=gen, device=x.device, dtype=dtype)
            b = torch.randn(x.shape, generator=gen, device=x.device, dtype=dtype)
            f1 = _pre_gap(model, a, features)
            f2 = _pre_gap(model, a + cfg.zen_gamma * b, features)
            delta = (f1 - f2).abs().sum(dim=(1, 2, 3)).mean()
            bn = math.fsum(math.log(math.sqrt(float(m.running_var.double().mean())))
                           for m in model.modules() if isinstance(m, _BN) and m.running_var is not None)
            scores.append(math.log(float(delta)) + bn if float(delta) > 0 else -math.inf)
    return float(np.mean(scores))


def _identity(x, *args, **kwargs):
    return x


def _synflow(model: nn.Module, x: torch.Tensor, cfg: ZCConfig) -> float:
    """Sign-linearised network (absolute values of every state-dict entry) in ``synflow_dtype``, all-ones input of
    one image, R = sum of the logits, score = sum |theta * dR/dtheta| over the weights. Modifies ``model``."""
    dtype = _DTYPES[cfg.synflow_dtype]
    model.to(dtype)
    with torch.no_grad():
        for t in model.state_dict().values():
            if isinstance(t, torch.Tensor):
                t.abs_()
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    if cfg.synflow_bn == "identity":
        model.eval()
        for m in bns:
            m.forward = _identity
    else:
        _set_mode(model, cfg.synflow_bn)
    try:
        weights = _weights(model)
        ones = torch.ones((1, *x.shape[1:]), dtype=dtype, device=x.device)
        out = _logits(model(ones))
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    finally:
        for m in bns:
            m.__dict__.pop("forward", None)
    return _snip(weights, grads)


def _setup(model_factory, names, batches, cfg):
    cfg = ZCConfig() if cfg is None else cfg
    if not isinstance(cfg, ZCConfig):
        raise UserError(f"cfg must be a ZCConfig; got {type(cfg).__name__}.")
    names = _names(names)
    x, y = _prepare(batches, cfg)
    if y is None and set(names) & _LOSS_GRAD:
        raise UserError(f"{', '.join(sorted(set(names) & _LOSS_GRAD))} need labels: pass (x, y) batches.")
    return _make_factory(model_factory), names, x, y, cfg


# ---------------------------------------------------------------------------------------------------- public API

def compute(model_factory: ModelFactory, names: Sequence[str] | str | None = None, batches=None,
            cfg: ZCConfig | None = None, *, features: Features | None = None) -> dict[str, float]:
    """The requested proxies of the network ``model_factory()`` builds, from one minibatch.

    ``model_factory``: a zero-argument callable returning the network (called once, under
    ``torch.manual_seed(cfg.init_seed)``), or a module (deep-copied; its own weights are used with
    ``init='default'``). ``names``: proxy names (default all of :data:`PROXIES`). ``batches``: an image tensor, an
    ``(x, y)`` pair or an iterable of pairs (see :class:`ZCConfig`). ``features``: ``features(model, x)`` -> the
    (N, C, H, W) pre-global-pool map for ``zen`` (found automatically when omitted).

    The network is built once and the work shared: params, l2_norm and flops (a one-image forward) read the
    initial network; one forward of the minibatch serves naswot, snip, grad_norm, fisher, jacov and grasp, with one
    loss backward (building its graph when grasp is asked for; GraSP's Hessian-gradient product is then one more
    backward instead of a second forward) and one logit-sum backward; zen and synflow, which rewrite the weights,
    run last, each on the initial state restored from a copy. Returns ``{name: value}`` in the order requested.
    """
    factory, names, x, y, cfg = _setup(model_factory, names, batches, cfg)
    want = set(names)
    dev = x.device
    model = _build(factory, cfg, dev)
    res: dict[str, float] = {}
    for name in _STATIC:
        if name in want:
            res[name] = _static(model, x, name)
    # zen and synflow rewrite the weights and every train-mode forward moves the BN statistics: keep a copy of the
    # initial state when one of them follows another stage
    pass_a = bool(want & _PASS_A)
    pristine = _pristine(model) if ("zen" in want and pass_a) or ("synflow" in want and (pass_a or "zen" in want)) \
        else None
    dirty = False
    if pass_a:
        res.update(_pass_a(model, x, y, cfg, want & _PASS_A, dev)[0])
        dirty = True
    if "zen" in want:
        if dirty:
            model.load_state_dict(pristine)
        res["zen"] = _zen(model, x, cfg, features, dev)
        dirty = True
    if "synflow" in want:
        if dirty:
            model.load_state_dict(pristine)
        res["synflow"] = _synflow(model, x, cfg)
    return {n: res[n] for n in names}


def compute_reference(model_factory: ModelFactory, names: Sequence[str] | str | None = None, batches=None,
                      cfg: ZCConfig | None = None, *, features: Features | None = None) -> dict[str, float]:
    """The same numbers as :func:`compute`, computed the straightforward way: a freshly built network per proxy
    and a separate forward/backward for each (grasp runs its own first pass). For tests and speed comparisons."""
    factory, names, x, y, cfg = _setup(model_factory, names, batches, cfg)
    dev = x.device
    res: dict[str, float] = {}
    for name in names:
        model = _build(factory, cfg, dev)
        if name in _STATIC:
            res[name] = _static(model, x, name)
        elif name == "grasp":
            _, grads = _pass_a(model, x, y, cfg, {"grasp"}, dev, grasp_in_pass=False)
            res[name] = _grasp(model, x, y, cfg, grads, dev)
        elif name in _PASS_A:
            res[name] = _pass_a(model, x, y, cfg, {name}, dev)[0][name]
        elif name == "zen":
            res[name] = _zen(model, x, cfg, features, dev)
        elif name == "synflow":
            res[name] = _synflow(model, x, cfg)
        del model
    return res
