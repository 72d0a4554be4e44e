"""Local tooling: run the functions as Lambda would, without Docker (runner, bus emulator, demo)."""

import sys
from pathlib import Path

# The tools run from a checkout and use the layer's package (signatures, event source) as source code.
_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
