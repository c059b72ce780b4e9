"""``python -m benchmarks``: the benchmark suite (see benchmarks/suite and README.md)."""

import sys
from pathlib import Path

# The single-scenario scripts beside this file import their shared parts as
# ``harness``, as they do when run as ``python benchmarks/<script>.py``.
sys.path.append(str(Path(__file__).resolve().parent))

from benchmarks.suite.cli import main  # noqa: E402

sys.exit(main())
