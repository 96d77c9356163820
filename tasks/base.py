"""Shared parameters, output locations and config lookup of every tmet task.

Two levels only: ``AnalysisTask`` (version, config, store), and beside each other
``DatasetTask`` (a dataset of that config) and ``SignalTask`` (config-level results about
the signal), with the mixin ``ShiftTask`` (tasks.shift) for the tasks that run the analysis
graph under shifts; workflow types are mixed into the final classes.
"""

import functools
import os

import law
import luigi

from analysis.errors import TmetError, checked_name
from analysis.revision import tmet_revision
from config.analysis import get_config
from config.datasets import get_dataset, input_files
from config.processes import card_sets
from tasks import freshness
from tasks.store import flat_targets, output_target


class AnalysisTask(law.Task):
    """Base of every tmet task: version, config, store, and the completeness check of
    ``tasks.freshness``: requirements complete, every output up to date with its provenance
    record. A task says what its outputs depend on: ``used_config()`` (the config values,
    by section) and ``code_modules`` (the analysis modules its run calls)."""

    code_modules = ()

    def prepare_law_process(self):
        """Set up in the law process, before luigi forks the task processes, what this task's
        run needs (tasks.base.prepare_before_the_workers_fork): here what its provenance record
        holds that is cached per process (tasks.provenance): the code digest of its analysis
        modules (0.1 s to make), the software versions and tmet's revision (two git commands
        and the package metadata, which every task process would otherwise run again)."""
        from tasks.provenance import code_digest, software

        code_digest(self.code_modules)
        software()
        tmet_revision()

    version = luigi.Parameter(description="version of the outputs, part of every output path; required")
    config = luigi.Parameter(
        default=law.config.get_expanded("tmet", "default_config", "run2_2018_synth"),
        description="name of the analysis config; default: [tmet] default_config of law.cfg",
    )
    # where the event loops of this task and of every task it requires run (tasks.executor)
    executor = luigi.ChoiceParameter(
        choices=["dask", "local"], significant=False,
        default=os.environ.get("TMET_EXECUTOR") or law.config.get_expanded("tmet", "executor", "dask"),
        description="'dask': the event loops on the Dask cluster (of --dask-scheduler; without one, "
        "Histograms on a LocalCluster, the others here); 'local': here, in child processes; for this task and "
        "every task it requires; default: $TMET_EXECUTOR, else [tmet] executor of law.cfg (dask)",
    )
    dask_scheduler = luigi.Parameter(
        default="", significant=False,
        description="tcp://HOST:PORT of a running Dask scheduler, for this task and every task it requires; "
        "default: $TMET_DASK_SCHEDULER, else [tmet] dask_scheduler of law.cfg, else none",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        checked_name("--version", self.version)
        self.config_inst = checked_config(checked_name("--config", self.config))

    def store_parts(self):
        return (self.task_family, self.config)

    def target(self, *path, **kwargs):
        """The output ``path`` of this task in the store, e.g. store/Skim/<config>/<dataset>/<version>/..."""
        return output_target((*self.store_parts(), self.version, *path), **kwargs)

    def used_config(self):
        """{section: config values} that the outputs depend on."""
        return {}

    def writes_in_place(self):
        """Whether the run writes its outputs where they go (a Dask worker writing to the
        store) rather than through a local staging file (tasks.store.atomic_write)."""
        return False

    def outputs_exist(self):
        """law's own completeness: every output exists (False for a task without outputs)."""
        return bool(flat_targets(self.output())) and super().complete()

    def complete(self):
        return freshness.FreshnessCheck().complete(self)

    def workflow_complete(self):
        """law's hook for the completeness of a workflow (its ``complete`` goes to the proxy):
        the same check, every branch up to date."""
        return freshness.FreshnessCheck().complete(self)

    def status_flags(self):
        """Flags of the task line under ``--print-status``: ``out-of-date`` and why, where the
        outputs exist but are not up to date."""
        reasons = freshness.out_of_date(self)
        return [f"out-of-date: {'; '.join(reasons)}"] if reasons else []

    def repr(self, all_params=False, color=None, **kwargs):
        """law's repr, with ``status_flags`` under ``--print-status``."""
        text = super().repr(all_params=all_params, color=color, **kwargs)
        flags = self.status_flags() if freshness.status_requested() else []
        if flags:
            if color is None:
                color = law.config.get_expanded_bool("task", "colored_repr")
            text = text[:-1] + "".join(f", {law.util.colored(f, color='magenta') if color else f}" for f in flags) + ")"
        return text


@functools.cache
def checked_config(name):
    """The config ``name``, checked (analysis.physics.checks) the first time a task of this
    process builds it, before any task runs: an edit that would give a wrong number stops the
    run naming what to change."""
    from analysis.physics.checks import check_config

    config = get_config(name)
    check_config(config)
    return config


@AnalysisTask.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
def prepare_before_the_workers_fork(task, dependency):
    """Import ROOT, and set up what the scheduled tasks' runs need (``prepare_law_process``:
    their analysis modules, ROOT's event-loop classes, a compiled generator, a Dask
    LocalCluster), in the law process once it schedules a task to run (luigi fires this for
    the requirements of incomplete tasks only), so that the processes luigi forks for its
    workers (``--workers N``) share them instead of each paying the start (about 1 s for
    ROOT, 0.7 s for the event-loop classes, 2 s for a cluster, per process); and install
    the progress line (tasks.progress) and a quick exit (analysis.runtime.fast_exit) there."""
    from analysis.runtime.fast_exit import exit_without_collections
    from analysis.engine.root_setup import import_root
    from tasks import progress

    progress.install()
    # the requirement first: the first one of the run may start a cluster in the background
    for scheduled in (dependency, task):
        if isinstance(scheduled, AnalysisTask):
            scheduled.prepare_law_process()
    import_root()
    exit_without_collections()


class SignalTask(AnalysisTask):
    """A config-level task about the signal (cards, yields, plots, limits): on a config
    without a signal dataset it requires nothing and its run is an error naming the config."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_signal = bool(card_sets(self.config_inst))

    def check_signal(self):
        if not self.has_signal:
            raise TmetError(f"config '{self.config}' has no signal dataset: {self.task_family} needs one "
                            f"(add a dataset of a signal process to {self.config_inst.x.datasets_file})")

    def status_flags(self):
        return super().status_flags() + ([] if self.has_signal else ["no signal dataset"])


class DatasetTask(AnalysisTask):

    dataset = luigi.Parameter(description="name of a dataset of the config; required")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataset_inst = get_dataset(self.config_inst, checked_name("--dataset", self.dataset))

    def store_parts(self):
        return super().store_parts() + (self.dataset,)

    @property
    def priority(self):
        """luigi's scheduling priority: the dataset's number of input files, so that the
        longest chains (GenerateSample -> Skim -> BTagEfficiency -> Histograms of the largest
        datasets) start first and a run does not end on one of them with its other workers
        idle. It orders the runnable tasks only; what runs and what it writes stay the same."""
        return len(input_files(self.dataset_inst))

