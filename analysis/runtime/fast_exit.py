"""The exit of a process that holds ROOT: without the garbage collections of Python's
finalization.

At exit CPython runs full collections over every object still alive; with ROOT, luigi,
Dask and a config loaded (about 110,000 objects) that is about 0.3 s at the end of every
law run, and more of the same in each Dask worker, whose exit its nanny waits for, and in
each spawned event-loop child, whose exit its parent waits for. Freezing the objects
(``gc.freeze``) keeps them out of those collections: they are still freed by their
reference counts, and ROOT closes its files in its own exit handler.
"""

import atexit
import functools
import gc


@functools.cache
def exit_without_collections():
    """Freeze this process's objects at exit, before the exit handlers registered so far run
    (exit handlers run last registered first)."""
    atexit.register(gc.freeze)
