"""What a Dask worker needs from the client to run a compiled graph, for clusters whose
workers share no filesystem with the user (an analysis facility's HTCondor workers).

``WorkerSetup`` is a Dask worker plugin registered by the client (once per content: its
name is a digest of it), so that every worker, also one that joins or is restarted later,
gets, before it runs a graph:

- the files the graph reads: its compiled library and the correction files (the b-tag
  efficiencies too), written to the worker's local directory, found there by their paths
  on the client (``local_path``);
- the credentials to read grid storage: the VOMS proxy (``X509_USER_PROXY``) and the
  token (``BEARER_TOKEN_FILE``) of the client, as files of mode 0400 in the worker's local
  directory with the variables set there (and ``X509_CERT_DIR`` as the client has it), as
  PocketCoffea's INFN analysis-facility executor does; never logged or written elsewhere;
- a check that it runs the client's tmet and ROOT: a worker whose tmet commit or ROOT
  version differs is refused, naming both.

Workers whose image lacks tmet get the client's copy first (``ship_code``: Dask's own
UploadDirectory plugin, also for workers that join later).
"""

import functools
import hashlib
import json
import os
import tempfile

from distributed.diagnostics.plugin import UploadDirectory, WorkerPlugin

from analysis.errors import TmetError
from analysis.revision import REPO, REVISION_FILE, source_stamp, tmet_revision

# what a worker imports of tmet: the analysis code, the configs (with their datasets YAML and
# file lists) and the tasks (a graph's functions are pickled by reference to these modules)
CODE_PACKAGES = ("analysis", "config", "tasks")

CREDENTIALS = ("X509_USER_PROXY", "BEARER_TOKEN_FILE")


def versions():
    """What a worker must share with the client: tmet's commit and ROOT's version."""
    from analysis.engine.root_setup import import_root

    return {"tmet commit": tmet_revision()["commit"], "ROOT": import_root().gROOT.GetVersion()}


def client_credentials(environ=os.environ):
    """{variable: file content} of the credentials the client has (those of CREDENTIALS set)."""
    out = {}
    for variable in CREDENTIALS:
        path = environ.get(variable)
        if path:
            try:
                with open(path, "rb") as f:
                    out[variable] = f.read()
            except OSError as e:
                raise TmetError(f"{variable}={path} cannot be read, so it cannot reach the Dask workers: {e}") from e
    return out


class WorkerSetup(WorkerPlugin):
    """Files, credentials and the version check of one graph's run (see the module)."""

    idempotent = True  # named by its content: registered again, it is the same setup

    def __init__(self, paths, credentials, expected, cert_dir=None):
        self.files = {}
        for path in paths:
            with open(path, "rb") as f:
                self.files[shipped_name(path)] = f.read()
        self.credentials, self.expected, self.cert_dir = credentials, expected, cert_dir
        content = hashlib.sha256()
        for name, data in sorted({**self.files, **credentials}.items()):
            content.update(name.encode() + b"\0" + data)
        content.update(repr(sorted(expected.items())).encode())
        self.name = f"tmet-setup-{content.hexdigest()[:16]}"
        self.directory = None

    def __repr__(self):  # the credentials never reach a log
        return f"WorkerSetup({self.name}, files {sorted(self.files)}, credentials {sorted(self.credentials)})"

    def setup(self, worker):
        found = versions()
        different = {k: (v, found.get(k)) for k, v in self.expected.items() if found.get(k) != v}
        if different:
            raise TmetError(f"Dask worker {worker.address} runs another tmet or ROOT than the client: "
                            + ", ".join(f"{k} {w} on the worker, {c} on the client" for k, (c, w) in different.items()))
        self.directory = os.path.join(worker.local_directory, self.name)
        os.makedirs(self.directory, exist_ok=True)
        for name, data in self.files.items():
            _write(os.path.join(self.directory, name), data, 0o644)
        for variable, data in self.credentials.items():
            path = os.path.join(self.directory, variable.lower())
            _write(path, data, 0o400)
            os.environ[variable] = path
        if self.cert_dir and "X509_USER_PROXY" in self.credentials:
            os.environ["X509_CERT_DIR"] = self.cert_dir

    def path(self, client_path):
        """Where this worker keeps the file shipped from ``client_path``."""
        name = shipped_name(client_path)
        if name not in self.files:
            raise TmetError(f"{client_path} was not shipped to the Dask workers")
        return os.path.join(self.directory, name)


def shipped_name(path):
    """The name of the client's file ``path`` on the workers: its base name, after a digest
    of its path (two correction files of one name from two directories stay apart)."""
    return f"{hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:8]}-{os.path.basename(path)}"


def _write(path, data, mode):
    """``data`` into ``path`` with ``mode``, renamed into place (a worker may run two setups)."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@functools.cache
def code_copy(stamp):
    """(name, {relative path: content}) of the client's tmet, read once per process and
    ``stamp`` (analysis.revision.source_stamp of CODE_PACKAGES), however many connections
    ship it."""
    files = {}
    for path, _, _ in stamp:
        with open(path, "rb") as f:
            files[os.path.relpath(path, REPO)] = f.read()
    content = hashlib.sha256(b"".join(k.encode() + b"\0" + v for k, v in sorted(files.items())))
    return f"tmet-{tmet_revision()['commit']}-{content.hexdigest()[:12]}", files


def ship_code(client):
    """Give the scheduler and the workers of ``client`` that need it the client's copy of
    tmet (its CODE_PACKAGES and its revision): those that cannot import tmet, and, when the
    client's tree differs from its commit, those that import it from another directory than
    the client's (a LocalCluster's workers share the client's files). Dask's UploadDirectory nanny plugin unpacks it in each worker's directory, puts
    it on its ``sys.path`` and restarts the worker to import it (workers that join later get
    it too); the scheduler, which unpickles the graphs, gets the same archive. Workers whose
    image has tmet at a clean client's commit keep theirs (the WorkerSetup checks it)."""
    revision = tmet_revision()
    name, files = code_copy(source_stamp(CODE_PACKAGES))

    def needs_copy(name, any_tmet_will_do, client_repo):  # where tmet may not be importable: pickled by value
        import importlib.util
        import sys

        if any(os.path.basename(p) == name for p in sys.path):
            return False
        try:
            spec = importlib.util.find_spec("analysis.revision")
        except ModuleNotFoundError:  # no package "analysis" at all
            return True
        if spec is None or spec.origin is None:
            return True
        return not any_tmet_will_do and os.path.dirname(os.path.dirname(spec.origin)) != client_repo

    def unpack(data, name, dask_scheduler=None):  # on the scheduler, as the nanny plugin does
        import io
        import sys
        import zipfile

        zipfile.ZipFile(io.BytesIO(data)).extractall(dask_scheduler.local_directory)
        path = os.path.join(dask_scheduler.local_directory, name)
        if path not in sys.path:
            sys.path.insert(0, path)

    clean = revision["dirty"] is False
    workers = any(client.run(needs_copy, name, clean, REPO).values())
    scheduler = client.run_on_scheduler(needs_copy, name, clean, REPO)
    if not (workers or scheduler):
        return
    n_workers = len(client.scheduler_info()["workers"])
    with tempfile.TemporaryDirectory() as directory:
        top = os.path.join(directory, name)
        for relative, data in files.items():
            os.makedirs(os.path.dirname(os.path.join(top, relative)), exist_ok=True)
            with open(os.path.join(top, relative), "wb") as f:
                f.write(data)
        with open(os.path.join(top, REVISION_FILE), "w") as f:
            json.dump(revision, f)
        upload = UploadDirectory(top, restart_workers=True, update_path=True, skip_words=())
    if scheduler:
        client.run_on_scheduler(unpack, upload.data, upload.path)
    if workers:
        client.register_plugin(upload)
        client.wait_for_workers(n_workers, timeout=120)


def ship(client, paths):
    """Register the WorkerSetup of ``paths`` (and of the client's credentials) on the cluster
    of ``client``; returns its name, which the tasks of the graph use to find the files.
    tmet itself reached the workers when the client connected (``ship_code``)."""
    setup = WorkerSetup(paths, client_credentials(), versions(), os.environ.get("X509_CERT_DIR"))
    client.register_plugin(setup, name=setup.name)
    return setup.name
