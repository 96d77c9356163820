"""Where outputs live: a local directory or an XRootD store, and the law targets of both.

The store is $TMET_STORE, else ``store`` in the ``[tmet]`` section of law.cfg: a directory,
or ``root://HOST:PORT//path`` (law.wlcg targets through gfal2). ROOT reads remote outputs
in place over root://.
"""

import errno
import functools
import os

import law
from luigi.task import flatten

from analysis.errors import TmetError
from analysis.root_setup import configure_xrootd_client


def store_location():
    """The output store: $TMET_STORE, else ``[tmet] store`` of law.cfg."""
    store = os.environ.get("TMET_STORE") or law.config.get_expanded("tmet", "store")
    if not store:
        raise TmetError("no output store: set [tmet] store in law.cfg or the environment variable TMET_STORE")
    return store


def output_target(parts, **kwargs):
    """The file target of ``parts`` (path components) under the store."""
    store = store_location()
    if store.startswith("root://"):
        fs = remote_store(store)  # loads law.wlcg
        return law.wlcg.WLCGFileTarget(os.path.join("/", *parts), fs=fs, **kwargs)
    return law.LocalFileTarget(os.path.join(store, *parts), **kwargs)


@functools.cache
def remote_store(url):
    """The law file system of an XRootD store ``root://HOST:PORT//path``, checked once per process.

    An unreachable server is an error here, before any task runs, so that nothing is
    scheduled against a store that cannot take its outputs.
    """
    host = url.split("//")[1].split(":")[0].split("/")[0]
    if host in ("localhost", "127.0.0.1"):
        raise TmetError(
            f"store {url}: ROOT opens root:// URLs of this machine's own address as local files; use "
            f"another loopback address (e.g. root://127.0.0.2:PORT//...) or the host's name",
        )
    configure_xrootd_client()
    check_reachable(url)
    law.contrib.load("wlcg")
    return law.wlcg.WLCGFileSystem(None, base=url)


def check_reachable(url):
    """Raise unless the XRootD server of ``url`` answers (a missing directory is fine)."""
    import gfal2

    try:
        gfal2.creat_context().stat(url)
    except gfal2.GError as e:
        if e.code != errno.ENOENT:
            raise TmetError(f"the XRootD store {url} is unreachable ({e.message.strip()}); start the server or "
                            f"point TMET_STORE / [tmet] store elsewhere") from e


def location(target):
    """Where ROOT reads ``target``: a local path, or the root:// URL of a remote output."""
    return target.abspath if isinstance(target, law.LocalFileTarget) else target.uri()


def flat_targets(struct):
    """Every file target in a (nested) structure of targets and target collections."""
    targets = []
    for target in flatten(struct):
        if isinstance(target, law.TargetCollection):
            targets.extend(flat_targets(target.targets))
        else:
            targets.append(target)
    return targets


def branch_locations(workflow_output):
    """Locations of a workflow's outputs (its ``input()`` in a dependent task), in branch order."""
    return [location(target) for _, target in sorted(workflow_output["collection"].targets.items())]
