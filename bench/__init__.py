"""Benchmarks of the backend on the local stack (`make bench`): see bench/run.py and BENCHMARKS.md."""

import sys
from pathlib import Path

# The benchmarks drive the functions in-process and use the layer's package as source code, as local/ does.
_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
