"""Where outputs live: a local directory or an XRootD store, and how they are written there.

The store is $TMET_STORE, else ``store`` in the ``[tmet]`` section of law.cfg: a directory,
an XRootD store ``root://HOST:PORT//path``, or a WebDAV store ``davs://HOST:PORT/path``
(``dav://`` without TLS), both law.wlcg targets through gfal2 (its XRootD and HTTP
plugins). ROOT reads XRootD outputs in place; WebDAV outputs, which this ROOT cannot open,
are read from local copies (``readable``). Outputs are written under a temporary name next
to their final one and renamed into place, one writer at a time (a lock per output).
"""

import contextlib
import errno
import fcntl
import functools
import hashlib
import os
import uuid

import law
from luigi.task import flatten

from analysis.errors import TmetError
from analysis.engine.root_setup import configure_xrootd_client


REMOTE_SCHEMES = ("root://", "dav://", "davs://")
WEBDAV_SCHEMES = ("dav://", "davs://")


def store_location():
    """The output store: $TMET_STORE, else ``[tmet] store`` of law.cfg."""
    store = os.environ.get("TMET_STORE") or law.config.get_expanded("tmet", "store")
    if not store:
        raise TmetError("no output store: set [tmet] store in law.cfg or the environment variable TMET_STORE")
    return store


def output_target(parts, **kwargs):
    """The file target of ``parts`` (path components) under the store."""
    store = store_location()
    if store.startswith(REMOTE_SCHEMES):
        fs = remote_store(store)  # loads law.wlcg
        return law.wlcg.WLCGFileTarget(os.path.join("/", *parts), fs=fs, **kwargs)
    return law.LocalFileTarget(os.path.join(store, *parts), **kwargs)


@functools.cache
def remote_store(url):
    """The law file system of a remote store (``root://HOST:PORT//path``, ``davs://HOST/path``),
    checked once per process.

    An unreachable server is an error here, before any task runs, so that nothing is
    scheduled against a store that cannot take its outputs.
    """
    host = url.split("//")[1].split(":")[0].split("/")[0]
    if url.startswith("root://") and host in ("localhost", "127.0.0.1"):
        raise TmetError(
            f"store {url}: ROOT opens root:// URLs of this machine's own address as local files; use "
            f"another loopback address (e.g. root://127.0.0.2:PORT//...) or the host's name",
        )
    configure_xrootd_client()
    check_reachable(url)
    law.contrib.load("wlcg")
    return law.wlcg.WLCGFileSystem(None, base=url)


def check_reachable(url):
    """Raise unless the server of ``url`` answers (a missing directory is fine)."""
    import gfal2

    try:
        gfal2.creat_context().stat(url)
    except gfal2.GError as e:
        if e.code != errno.ENOENT:
            kind = "WebDAV" if url.startswith(WEBDAV_SCHEMES) else "XRootD"
            raise TmetError(f"the {kind} store {url} is unreachable ({e.message.strip()}); start the server or "
                            f"point TMET_STORE / [tmet] store elsewhere") from e


def location(target):
    """Where ``target`` is written (and, but for a WebDAV store, read by ROOT): a local path,
    or the URL of a remote output."""
    return target.abspath if isinstance(target, law.LocalFileTarget) else target.uri()


def is_webdav(target):
    return is_remote(target) and target.uri().startswith(WEBDAV_SCHEMES)


@contextlib.contextmanager
def readable(struct):
    """The locations ROOT reads the targets of ``struct`` at (the same structure): local
    paths and root:// URLs as they are; outputs of a WebDAV store as local copies fetched
    with gfal2, for the time of the context."""
    with contextlib.ExitStack() as stack:
        def one(target):
            if is_webdav(target):
                return stack.enter_context(target.localize("r")).abspath
            return location(target)

        yield law.util.map_struct(one, struct)


def flat_targets(struct):
    """Every file target in a (nested) structure of targets and target collections."""
    targets = []
    for target in flatten(struct):
        if isinstance(target, law.TargetCollection):
            targets.extend(flat_targets(target.targets))
        else:
            targets.append(target)
    return targets


# the directory next to outputs that holds their records, locks and temporary files
SIDECARS = ".tmet"
# the marker of a temporary output name: "<SIDECARS>/<stem>.tmp-<token><ext>"
TEMPORARY = ".tmp-"


def sidecar(path, suffix=""):
    """``path``'s file of tmet's own next to it: <directory>/.tmet/<name><suffix> (for a
    file already there, in the same directory)."""
    directory, name = os.path.split(path)
    if os.path.basename(directory) != SIDECARS:
        directory = os.path.join(directory, SIDECARS)
    return os.path.join(directory, name + suffix)


def temporary_name(path):
    """A fresh temporary name for ``path``, in the sidecar directory next to it (the same
    file system, so a rename moves it into place): unique, same extension."""
    stem, ext = os.path.splitext(os.path.basename(path))
    return sidecar(os.path.join(os.path.dirname(path), f"{stem}{TEMPORARY}{uuid.uuid4().hex[:12]}{ext}"))


def is_temporary_of(name, path):
    stem, ext = os.path.splitext(os.path.basename(path))
    return name.startswith(f"{stem}{TEMPORARY}") and name.endswith(ext)


def is_remote(target):
    return not isinstance(target, law.LocalFileTarget)


@contextlib.contextmanager
def atomic_write(target, in_place=False):
    """A temporary file target to write ``target`` through; on success it is renamed into
    place, so that at every instant the output is complete or absent. For a remote output
    it is local and copied to a temporary name next to the output, then renamed there; with
    ``in_place``, it is that remote temporary name itself (a Dask worker writes it). Yields
    (temporary target, a dict whose "written" says afterwards whether the task wrote it)."""
    state = {"written": False}
    if not is_remote(target):
        tmp = law.LocalFileTarget(temporary_name(target.abspath))
        tmp.parent.touch()
        try:
            yield tmp, state
            if tmp.exists():
                os.replace(tmp.abspath, target.abspath)
                state["written"] = True
        finally:
            tmp.remove(silent=True)
        return
    if in_place:
        remote_tmp = target.__class__(temporary_name(target.path), fs=target.fs)
        target.fs.mkdir(os.path.dirname(remote_tmp.path), recursive=True)
        try:
            yield remote_tmp, state
            if remote_tmp.exists():
                rename_remote(target.fs, remote_tmp.path, target.path)
                state["written"] = True
        finally:
            if not state["written"]:
                remote_tmp.remove(silent=True)
        return
    staging = law.LocalFileTarget(temporary_name(staging_path(target)))
    staging.parent.touch()
    remote_tmp = temporary_name(target.path)
    try:
        yield staging, state
        if staging.exists():
            target.fs.mkdir(os.path.dirname(remote_tmp), recursive=True)
            target.__class__(remote_tmp, fs=target.fs).copy_from_local(staging.abspath)
            rename_remote(target.fs, remote_tmp, target.path)
            state["written"] = True
    finally:
        staging.remove(silent=True)
        if not state["written"]:
            target.fs.remove(remote_tmp, silent=True)


def rename_remote(fs, source, destination):
    """Rename on the remote store (the server's own rename: atomic, replacing an existing file)."""
    import gfal2

    try:
        gfal2.creat_context().rename(fs.uri(source), fs.uri(destination))
    except gfal2.GError as e:
        raise TmetError(f"cannot rename {fs.uri(source)} to {fs.uri(destination)}: {e.message.strip()}") from e


def tmet_directory(name):
    """A directory of this machine's tmet state under LAW_HOME."""
    directory = os.path.join(os.environ.get("LAW_HOME", os.path.expanduser("~/.law")), name)
    os.makedirs(directory, exist_ok=True)
    return directory


def url_key(target):
    return hashlib.sha1(target.uri().encode()).hexdigest()[:20]


def staging_path(target):
    """Where a remote output is written locally before it is copied to the store (one
    directory per output, whose stale files of killed runs remove_temporaries clears)."""
    directory = os.path.join(tmet_directory("tmet_staging"), url_key(target))
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, os.path.basename(target.path))


def remove_temporaries(target):
    """Remove the temporary files that a killed run left for ``target`` (call with its lock held)."""
    if is_remote(target):
        directory = os.path.dirname(sidecar(target.path))
        if target.fs.exists(directory):
            for name in target.fs.listdir(directory):
                if is_temporary_of(name, target.path):
                    target.fs.remove(os.path.join(directory, name), silent=True)
        path = staging_path(target)
        directory = os.path.dirname(sidecar(path))
        names = os.listdir(directory) if os.path.isdir(directory) else []
    else:
        directory, path = os.path.dirname(sidecar(target.abspath)), target.abspath
        names = os.listdir(directory) if os.path.isdir(directory) else []
    for name in names:
        if is_temporary_of(name, path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(directory, name))


@contextlib.contextmanager
def output_lock(target):
    """Exclusive while held, released when the holder ends in any way (kill -9 included):
    a lock file in the sidecar directory of a local output, or, for a remote one, in LAW_HOME keyed by its URL
    (runs on one machine; runs elsewhere still never see a partial output, as outputs
    appear by renames)."""
    if is_remote(target):
        path = os.path.join(tmet_directory("tmet_locks"), url_key(target) + ".lock")
    else:
        path = sidecar(target.abspath, ".lock")
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
