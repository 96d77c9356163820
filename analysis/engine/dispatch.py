"""The one way a loop runs here or on a Dask cluster (``dispatch``), how the loop finds
the client's files where it runs (``local_path``), and what is left of a loop that stopped
(``remove_partial``). Dask is imported only where a client is given: a run here never pays
for it."""

import os

from analysis.errors import TmetError


def dispatch(client, fn, calls, files=(), what="the event loop"):
    """``[fn(setup, *args) for args in calls]``: the one way a loop runs here or on Dask.
    Without a ``client``, here, in order, with ``setup`` None; with one, each call a Dask task
    on its workers after ``ship`` put ``files`` (paths on the client) and the credentials
    there, ``setup`` naming that WorkerSetup, the results in the order of ``calls``. ``fn``
    finds the files with ``local_path(setup, path)``. A task whose workers kept dying under
    it (a crash: a corrupt file?) is a TmetError naming ``what``."""
    if client is None:
        return [fn(None, *args) for args in calls]
    from distributed import KilledWorker

    from analysis.engine.worker_setup import ship

    setup = ship(client, files)
    futures = [client.submit(fn, setup, *args, pure=False) for args in calls]
    try:
        return [future.result() for future in futures]
    except KilledWorker as e:
        raise TmetError(f"{what} crashed the Dask workers that ran it ({e}); a corrupt input? "
                        f"run it with --executor local to find the file") from e


def local_path(setup_name, path):
    """Where this process finds the client's file ``path``: the path itself here (no
    ``setup_name``), else the copy the worker's WorkerSetup ``setup_name`` made."""
    if setup_name is None:
        return path
    from distributed import get_worker

    return get_worker().plugins[setup_name].path(path)


def local_specs(setup_name, specs):
    """Correction ``specs`` with their files where this process finds them (``local_path``)."""
    return {key: {**spec, "file": local_path(setup_name, spec["file"])} for key, spec in specs.items()}


def remove_partial(outputs):
    """Remove the local files of ``outputs`` that a loop which stopped left behind (a URL of
    the store is its task's temporary name, which the task removes)."""
    for output in outputs:
        if "://" not in output and os.path.exists(output):
            os.remove(output)
