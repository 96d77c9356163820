"""Event loops in a child process, so that ROOT cannot take the law process down with it.

A corrupt basket can make ROOT crash (a segmentation fault) rather than raise; Ctrl-C is
not seen while ROOT's event loop runs. ``isolated`` runs the loop in a forked child, waits
for its result (logging its time and the child's peak RSS, which bench/main_job.py and
bench/chain.py read), and turns a crash into a
``TmetError`` naming the input that crashes when read alone; Ctrl-C in the parent ends the
child and the run. The child dies with its parent, also when the parent is killed. A child
that has sent its result is not waited for as it exits (unmapping its copy of this
process, about 10 ms): multiprocessing reaps it at the next child's start or at this
process's exit.

The child is forked: it inherits the parent's interpreter, ROOT already imported, and
starts in milliseconds. Not so once this process has loaded the XRootD client (gfal2 or
ROOT opened a root:// URL): XRootD 5.5's threads (Debian's, which gfal2 and ROOT share
here) make a fork hang, in the parent's fork handler or in the child's first name lookup
(a lock a client thread held at the fork), both seen in tests; then the child is spawned,
a fresh interpreter that gets its arguments pickled (configs and shifts included, with any
override made in a notebook) and imports ROOT itself (about a second). ``warm_up`` (run
here first) compiles what the child will use (the generator's ACLiC library), so that it is
made once, in the parent.
"""

import logging
import multiprocessing
import resource
import signal
import tempfile
import time
import traceback

from analysis.runtime.preload import die_with_parent
from analysis.errors import TmetError
from analysis.runtime.fast_exit import exit_without_collections


def isolated(fn, *args, inputs=(), warm_up=None, name=None, **kwargs):
    """``fn(*args, **kwargs)`` in a forked child; its result (or its exception) comes back
    pickled. ``inputs``: the files it reads, named if it crashes; ``warm_up(directory)``: run
    here first, with a scratch directory, to compile what the child will use; ``name``: the
    loop's name in the log (default: ``fn``'s)."""
    if warm_up is not None:
        with tempfile.TemporaryDirectory() as directory:
            warm_up(directory)
    start = time.perf_counter()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = forked(_child, sender, fn, args, kwargs)
    sender.close()
    try:
        outcome = receiver.recv()
    except EOFError:
        outcome = None
    except KeyboardInterrupt:
        child.kill()
        child.join()
        raise
    finally:
        receiver.close()
    if outcome is None:
        child.join()
        raise TmetError(f"{crash_text(child.exitcode)} in the event loop over {', '.join(map(str, inputs)) or 'its inputs'}"
                        + culprit(inputs))
    ok, value, peak_kb = outcome
    if not ok:
        raise value
    logging.getLogger("luigi-interface").info("tmet: event loop %s took %.2f s, peak RSS %.0f MB", name or fn.__name__,
                                              time.perf_counter() - start, peak_kb / 1024)
    return value


def forked(target, *args):
    """A started daemon child of ``target(*args)``: forked, or spawned where this process
    loaded the XRootD client (see the module)."""
    method = "spawn" if xrootd_client_loaded() else "fork"
    child = multiprocessing.get_context(method).Process(target=target, args=args, daemon=True)
    child.start()
    return child


def xrootd_client_loaded():
    """Whether this process has loaded the XRootD client library (gfal2 or ROOT opened a
    root:// URL)."""
    with open("/proc/self/maps") as maps:
        return any("libXrdCl" in line for line in maps)


def _child(sender, fn, args, kwargs):
    die_with_parent()
    exit_without_collections()  # a spawned child's exit, which the parent waits for
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        outcome = (True, fn(*args, **kwargs))
    except BaseException as e:  # noqa: B036 - everything goes back to the parent
        if not isinstance(e, TmetError):
            e = TmetError(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        outcome = (False, e)
    sender.send((*outcome, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    sender.close()


def crash_text(exitcode):
    if exitcode is not None and exitcode < 0:
        return f"crash (signal {-exitcode}, {signal.Signals(-exitcode).name})"
    return f"crash (exit code {exitcode})"


def culprit(inputs):
    """Which of ``inputs`` cannot be read on its own (each read whole in a child), as text."""
    from analysis.engine.inputs import read_whole

    if len(inputs) < 1:
        return ""
    bad = []
    for path in inputs:
        child = forked(_read, read_whole, path)
        child.join()
        if child.exitcode != 0:
            bad.append(str(path))
    return f": {', '.join(bad)} cannot be read (a corrupt file?)" if bad else ""


def _read(read, path):
    die_with_parent()
    read(path)
