"""The garbage collector and a long-running process's start-up objects.

A service process imports its modules and builds its app, schemas, mappers and compiled
statements once, at start: hundreds of thousands of objects that live as long as the process.
CPython's cyclic garbage collector nevertheless walks all of them at each full collection,
which it starts on its own every so often under load — measured on a survey web worker: 140 to
160 ms, holding the interpreter lock, so every request thread of that worker stands still
meanwhile (the tail of the response times). ``freeze_start_up_objects`` collects once, then
moves every object alive at that moment out of the collector's sight (``gc.freeze``): later
collections walk only what was made after start, a millisecond or so. Reference counting still
frees what a request made; cycles made later are still collected; the frozen objects simply
stay, as they would anyway.
"""
from __future__ import annotations

import gc


def freeze_start_up_objects() -> None:
    """Collect what start-up left behind, then keep the rest out of later collections."""
    gc.collect()
    gc.freeze()
