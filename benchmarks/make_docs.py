"""Regenerate the result tables of README.md and docs/*.md from the committed CSVs under results/.

    python benchmarks/make_docs.py            # rewrite the stale generated blocks in place
    python benchmarks/make_docs.py --check    # write nothing; exit 1 listing the stale blocks

The blocks, their CSVs and formats are defined in nasharness/doctables.py; broken relative links are listed too
(and exit 1). Run it after any script that rewrites a results/*.csv.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's package, installed or not

from nasharness.doctables import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(root=Path(__file__).resolve().parent.parent))
