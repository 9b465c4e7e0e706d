"""nasharness: does a NAS method rank architectures correctly, and what does it cost?"""

__version__ = "0.1.0"

from .api import bench_info, bench_prepare, run  # noqa: E402
from .config import Budget, RunConfig  # noqa: E402
from .errors import UserError  # noqa: E402
from .plugins import get_benchmark, get_method, get_space, list_benchmarks, list_methods, list_spaces  # noqa: E402
from .results import RunResult  # noqa: E402

__all__ = [
    "Budget",
    "RunConfig",
    "RunResult",
    "UserError",
    "__version__",
    "bench_info",
    "bench_prepare",
    "get_benchmark",
    "get_method",
    "get_space",
    "list_benchmarks",
    "list_methods",
    "list_spaces",
    "run",
]
