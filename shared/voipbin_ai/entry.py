"""Every function's Lambda handler (template.yaml, Globals: Handler): its app.py, imported in one stack chunk.

CPython 3.12 keeps a thread's frames in 16 KiB chunks and frees a chunk as soon as the call that needed it
returns, so an import tree whose depth keeps crossing a chunk's end maps and unmaps that chunk again and
again (python/cpython#142183; 3.13 and 3.14 cache one chunk, 3.12 does not). Imported at the depth the
runtime imports a handler, the functions that load openai did so 7,600 to 13,000 times, up to 200 ms of
their init (counted with strace). A frame as large as the one below makes the runtime
allocate one chunk with room for the whole import, so no chunk's end is crossed; the pages it never
touches are never faulted in. The collector is off meanwhile, for the reason given below.
"""

import gc
import importlib
from types import ModuleType
from typing import Any


def _import_in_one_chunk(name: str) -> ModuleType:
    """importlib.import_module, from a frame whose size (co_stacksize, set below) asks for a 1 MiB chunk."""
    return importlib.import_module(name)


# 64 Ki slots of 8 bytes: a 512 KiB frame in a chunk of 1 MiB, the rest free for the import's own frames.
_import_in_one_chunk.__code__ = _import_in_one_chunk.__code__.replace(co_stacksize=64 * 1024)

# The function's own code (its CodeUri's app.py, on the path as /var/task); every app.py names it so. What
# the import creates lives as long as the container: collecting while importing only rescans it, and frozen
# afterwards, no later collection scans it again (the gc module's documentation: gc.freeze).
gc.disable()
try:
    lambda_handler: Any = _import_in_one_chunk("app").lambda_handler
finally:
    gc.freeze()
    gc.enable()
