"""Shared parameters, output locations and config lookup of every tmet task.

Two levels only: ``AnalysisTask`` (version, config, store) and ``DatasetTask``
(a dataset of that config); workflow types are mixed into the final classes.
"""

import contextlib
import os

import law
import luigi
from luigi.task import flatten

from analysis.errors import TmetError
from analysis.inputs import configure_xrootd_client
from config.analysis import get_config
from config.datasets import get_dataset, get_shift


def store_location():
    """The output store: $TMET_STORE, else ``[tmet] store`` of law.cfg (a directory or a root:// URL)."""
    store = os.environ.get("TMET_STORE") or law.config.get_expanded("tmet", "store")
    if not store:
        raise TmetError("no output store: set [tmet] store in law.cfg or the environment variable TMET_STORE")
    return store


_remote_stores = {}


def remote_store(url):
    """The law file system of an XRootD store ``root://HOST:PORT//path``, checked once per process.

    An unreachable server is an error here, before any task runs, so that nothing is
    scheduled against a store that cannot take its outputs.
    """
    if url not in _remote_stores:
        host = url.split("//")[1].split(":")[0].split("/")[0]
        if host in ("localhost", "127.0.0.1"):
            raise TmetError(
                f"store {url}: ROOT opens root:// URLs of this machine's own address as local files; use "
                f"another loopback address (e.g. root://127.0.0.2:PORT//...) or the host's name",
            )
        check_reachable(url)
        law.contrib.load("wlcg")
        _remote_stores[url] = law.wlcg.WLCGFileSystem(None, base=url)
    return _remote_stores[url]


def check_reachable(url):
    """Raise unless the XRootD server of ``url`` answers (a missing directory is fine)."""
    import errno

    import gfal2

    try:
        gfal2.creat_context().stat(url)
    except gfal2.GError as e:
        if e.code != errno.ENOENT:
            raise TmetError(f"the XRootD store {url} is unreachable ({e.message.strip()}); start the server or "
                            f"point TMET_STORE / [tmet] store elsewhere") from e


@contextlib.contextmanager
def local_file(target):
    """A local path of ``target`` for readers that need one (correctionlib): remote ones are fetched."""
    if isinstance(target, law.LocalFileTarget):
        yield target.abspath
    else:
        with target.localize("r") as tmp:
            yield tmp.abspath


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


def mtime(target):
    return target.stat().st_mtime


# before any root:// access of this process and of the Dask workers it starts
configure_xrootd_client()

# task id -> completeness, shared by the nested complete() calls of one top-level check so
# that each task of a large graph is looked at once per check
_completeness = None
# set when the task that law runs asks for --print-status: task lines then say which
# tasks are out of date (outputs exist, but an input is newer or upstream is incomplete)
_showing_status = False


class AnalysisTask(law.Task):
    """Base of every tmet task: version, config, store and an input-aware completeness check.

    law alone calls a task complete when its outputs exist. Here a task is complete only
    if, in addition, every requirement is complete and no output is older than an input:
    a remade or deleted upstream output makes everything downstream of it out of date,
    and nothing else. The check costs one stat per target.
    """

    version = luigi.Parameter(description="version of the outputs, part of every output path; required")
    config = luigi.Parameter(
        default=law.config.get_expanded("tmet", "default_config", "run2_2018_synth"),
        description="name of the analysis config; default: [tmet] default_config of law.cfg",
    )

    def __init__(self, *args, **kwargs):
        global _showing_status
        super().__init__(*args, **kwargs)
        self.config_inst = get_config(self.config)
        _showing_status = _showing_status or bool(self.print_status)

    def _repr_flags(self):
        flags = super()._repr_flags()
        # workflows are skipped: their repr is used while their proxy is being set up
        if (_showing_status and not (isinstance(self, law.BaseWorkflow) and self.is_workflow())
                and all(t.exists() for t in flat_targets(self.output())) and not self.complete()):
            flags.append("out-of-date")
        return flags

    def store_parts(self):
        return (self.task_family, self.config)

    def complete(self):
        global _completeness
        top = _completeness is None
        if top:
            _completeness = {}
        try:
            if self.task_id not in _completeness:
                _completeness[self.task_id] = super().complete() and self.up_to_date()
            return _completeness[self.task_id]
        finally:
            if top:
                _completeness = None

    def up_to_date(self):
        """Whether every requirement is complete and every output is newer than every input."""
        if not all(dep.complete() for dep in flatten(self.requires())):
            return False
        return not self.stale_outputs()

    def stale_outputs(self):
        """Keys of the outputs (a dict) or [None] (one output) that are missing or older than an input."""
        inputs = flat_targets(self.input())
        missing = [t for t in inputs if not t.exists()]
        newest = None if missing or not inputs else max(mtime(t) for t in inputs)
        outputs = self.output()
        items = outputs.items() if isinstance(outputs, dict) else [(None, outputs)]
        stale = []
        for key, struct in items:
            targets = flat_targets(struct)
            if missing or not all(t.exists() for t in targets) or (
                    newest is not None and min(mtime(t) for t in targets) < newest):
                stale.append(key)
        return stale

    def target(self, *path, **kwargs):
        """The output ``path`` of this task in the store, e.g. store/Skim/<config>/<dataset>/<version>/...

        A local directory by default; a ``root://`` store gives law.wlcg targets (gfal2).
        """
        store = store_location()
        parts = (*self.store_parts(), self.version, *path)
        if store.startswith("root://"):
            fs = remote_store(store)
            return law.wlcg.WLCGFileTarget(os.path.join("/", *parts), fs=fs, **kwargs)
        return law.LocalFileTarget(os.path.join(store, *parts), **kwargs)


class DatasetTask(AnalysisTask):

    dataset = luigi.Parameter(description="name of a dataset of the config; required")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataset_inst = get_dataset(self.config_inst, self.dataset)

    def store_parts(self):
        return super().store_parts() + (self.dataset,)


class ShiftTask(DatasetTask):
    """A dataset task under one systematic shift (or ``all`` where the subclass allows it)."""

    shift = luigi.Parameter(
        default="nominal", description="a shape shift of the config (e.g. jes_up); default: nominal",
    )
    allow_all_shifts = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shifts = self.resolve_shifts()

    def resolve_shifts(self):
        """The shape shifts this task makes: data has only nominal; rate shifts have no histograms."""
        from config.common import shape_shifts

        valid = ["nominal"] + ([] if self.dataset_inst.is_data else shape_shifts(self.config_inst))
        if self.shift == "all" and self.allow_all_shifts:
            return valid
        get_shift(self.config_inst, self.shift)
        if self.shift not in valid:
            raise TmetError(
                f"shift '{self.shift}' has no {self.task_family} output for dataset '{self.dataset}'; "
                f"valid: {', '.join(valid + (['all'] if self.allow_all_shifts else []))}",
            )
        return [self.shift]
