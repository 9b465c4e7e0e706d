"""Start-up stays light: `import nasharness`, `--help` and the bench commands import neither torch nor mlflow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "mlflow", "scipy")
PROBE = """
import json, sys
argv = json.loads(sys.argv[1])
if argv is None:
    import nasharness
    nasharness.RunConfig, nasharness.list_benchmarks()
else:
    from nasharness.cli import main
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print(json.dumps(sorted(m for m in HEAVY if m in sys.modules)))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize("argv", [None, ["--help"], ["run", "--help"], ["bench", "list"], ["bench", "info", "201"],
                                  ["bench", "info", "101", "--json"], ["bench", "info", "darts"],
                                  ["bench", "query", "201", "6111", "--metric", "cifar10/ori-test@200"]],
                         ids=lambda a: "import" if a is None else " ".join(a))
def test_no_heavy_imports(argv):
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], f"{argv} imported {out.stdout}"


def test_the_probe_can_fail():
    """The probe sees a heavy import when one happens (so the test above can fail)."""
    out = subprocess.run([sys.executable, "-c", "import scipy\n" + PROBE, json.dumps(None)], capture_output=True,
                         text=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["scipy"]
