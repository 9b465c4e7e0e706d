"""Provenance of a run: package version, git commit, platform."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import threading

from .paths import REPO_ROOT


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def release_memory() -> None:
    """Hand freed memory back to the system: a full garbage collection, then glibc's ``malloc_trim`` (where the C
    library has it). A run that follows another in the same process (a sweep) then starts near the memory the
    process really holds, not near the previous run's high-water mark (measured: 1,819 MB after a DARTS-space
    search, 453 MB after the release)."""
    import ctypes  # noqa: PLC0415
    import ctypes.util  # noqa: PLC0415
    import gc  # noqa: PLC0415

    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
            pass


def reset_peak_rss() -> bool:
    """Start a new peak-memory window, so that several runs in one process (a sweep) each report their own peak:
    :func:`release_memory`, then (Linux) write 5 to /proc/self/clear_refs, which resets VmHWM to the resident memory
    now. What earlier runs left alive (cached tables and images) still counts. False where the platform cannot
    reset."""
    release_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last :func:`reset_peak_rss` (Linux VmHWM), else since start
    (getrusage: Linux reports KiB, macOS bytes)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc/self/statm); NaN elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


class MemoryMonitor:
    """Peak resident memory per phase: a daemon thread samples RSS every ``interval`` seconds and charges it to the
    phase set last (``phase(name)``); phase boundaries sample too. Spikes shorter than the interval can be missed,
    so the run's overall peak also comes from the kernel's exact high-water mark (:func:`peak_rss_mb`)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self._phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        rss = current_rss_mb()
        if rss == rss:  # not NaN
            self.peaks[self._phase] = max(self.peaks.get(self._phase, 0.0), rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemoryMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sample()
        self._stop.set()
        self._thread.join(timeout=1)

    def phase(self, name: str) -> None:
        self._sample()
        self._phase = name
        self._sample()


#: Environment variables that change which kernels run (and so the last bits of a supernet's numbers).
NUMERIC_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "CUBLAS_WORKSPACE_CONFIG")
#: What ``--deterministic`` pins: one thread, AVX2 kernels (ATen, oneDNN, MKL) on x86-64.
DETERMINISTIC_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
                     "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
#: The fields of the fingerprint: everything measured or suspected to move a trained supernet's numbers.
#: (Thread-count variables are recorded but not part of it: their effect is ``torch_threads``.)
FINGERPRINT_FIELDS = ("torch", "numpy", "pillow", "libjpeg", "cpu_isa", "cpu_flags", "torch_threads", "deterministic",
                      "images_sha256", "env_ONEDNN_MAX_CPU_ISA", "env_MKL_CBWR")
#: CPU features by which oneDNN and ATen pick kernels beyond ``cpu_isa`` (torch reports "AVX512" for every AVX-512
#: CPU, but one with VNNI, BF16 or AMX may run other convolution kernels); the ``cpu_flags`` field holds those the
#: CPU has. The CPU model name is not used: containers often report a generic one ("AMD EPYC").
KERNEL_FLAGS = ("avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd",
                "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx512ifma", "avx512vbmi", "amx_tile", "amx_bf16",
                "amx_int8", "amx_fp16")


def _version(dist: str) -> str:
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of ``/proc/cpuinfo`` (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> str:
    """The :data:`KERNEL_FLAGS` this CPU has (``/proc/cpuinfo``), space-separated in that order; "unknown" where
    the flags cannot be read."""
    flags = _cpuinfo("flags")
    if flags is None:
        return "unknown"
    have = set(flags.split())
    return " ".join(k for k in KERNEL_FLAGS if k in have)


def _cpu_model() -> str:
    model = _cpuinfo("model name")
    return model if model is not None else platform.processor() or "unknown"


def pin_kernel_env() -> None:
    """The part of :func:`pin_deterministic` that must happen before torch is imported: cap the kernel ISA (x86-64).
    Harmless when torch is already loaded (then :func:`pin_deterministic` reports that it could not pin)."""
    if "torch" not in sys.modules and platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.update(DETERMINISTIC_ENV)


def pin_deterministic() -> list[str]:
    """Pin what can be pinned for bit-equal numbers across machines and thread settings: the kernel ISA (before torch
    loads: ATen dispatch, oneDNN and MKL capped at AVX2 on x86-64), one intra-op and one inter-op thread, torch's
    deterministic algorithms (warn-only: the CPU ops used here have deterministic implementations). Returns notes on
    what could not be pinned (e.g. torch was imported before, so its ISA was already chosen)."""
    notes = []
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    pin_kernel_env()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", DETERMINISTIC_ENV["CUBLAS_WORKSPACE_CONFIG"])
    import torch  # noqa: PLC0415

    isa = torch.backends.cpu.get_cpu_capability()
    if x86 and isa != "AVX2":
        notes.append(f"deterministic mode could not pin the CPU kernels to AVX2 (they are {isa}: torch was imported "
                     f"before the run started); set ATEN_CPU_CAPABILITY=avx2 before importing torch")
    elif not x86:
        notes.append(f"deterministic mode: the kernel ISA is not pinned on {platform.machine()} (it is {isa})")
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel work; inter-op threads do not reorder sums
        pass
    torch.use_deterministic_algorithms(True, warn_only=True)
    return notes


def environment(**extra) -> dict:
    """Provenance of a run plus its numeric fingerprint: library versions, the CPU and the kernel ISA torch dispatches
    to, threads, the environment variables that select kernels, ``extra`` (e.g. ``images_sha256``,
    ``deterministic``), and ``fingerprint``: a short hash of :data:`FINGERPRINT_FIELDS`. torch's own fields are read
    only when torch is loaded (a tabular run's numbers do not depend on it)."""
    from . import __version__  # noqa: PLC0415

    env = {"nasharness": __version__, "git_commit": git_commit(), "python": platform.python_version(),
           "platform": platform.platform(), "machine": platform.machine(), "cpu_model": _cpu_model(),
           "cpu_flags": cpu_flags(), "cpu_count": os.cpu_count() or 0, "torch": _version("torch"),
           "numpy": _version("numpy"), "pillow": _version("pillow"), "pandas": _version("pandas")}
    if "PIL" in sys.modules:
        from PIL import features  # noqa: PLC0415

        env["libjpeg"] = f"{features.version('jpg') or 'absent'} (turbo {features.version('libjpeg_turbo')})"
    torch = sys.modules.get("torch")
    if torch is not None:
        env.update(cpu_isa=torch.backends.cpu.get_cpu_capability(), torch_threads=torch.get_num_threads(),
                   torch_interop_threads=torch.get_num_interop_threads(),
                   cuda=torch.version.cuda or "none",
                   deterministic_algorithms=torch.are_deterministic_algorithms_enabled())
    for k in NUMERIC_ENV:
        if os.environ.get(k):
            env[f"env_{k}"] = os.environ[k]
    env.update({k: v for k, v in extra.items() if v is not None})
    env["fingerprint"] = fingerprint(env)
    return env


def fingerprint(env: dict) -> str:
    """12 hex digits over the fields that move numbers; equal fingerprints mean the same numeric environment."""
    import hashlib  # noqa: PLC0415

    key = json.dumps({k: str(env.get(k, "")) for k in FINGERPRINT_FIELDS}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def fingerprint_diff(a: dict, b: dict) -> dict[str, tuple]:
    """The fingerprint fields that differ between two environments: ``{field: (a's, b's)}``."""
    return {k: (a.get(k), b.get(k)) for k in FINGERPRINT_FIELDS if str(a.get(k, "")) != str(b.get(k, ""))}
