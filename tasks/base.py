"""Shared parameters, output locations and config lookup of every tmet task.

Two levels only: ``AnalysisTask`` (version, config, store) and ``DatasetTask``
(a dataset of that config); workflow types are mixed into the final classes.
"""

import os

import law
import luigi

from analysis.errors import TmetError
from config.analysis import get_config
from config.datasets import get_dataset, get_shift


def store_location():
    """The output store: $TMET_STORE, else ``[tmet] store`` of law.cfg."""
    store = os.environ.get("TMET_STORE") or law.config.get_expanded("tmet", "store")
    if not store:
        raise TmetError("no output store: set [tmet] store in law.cfg or the environment variable TMET_STORE")
    return store


class AnalysisTask(law.Task):

    version = luigi.Parameter(description="version of the outputs, part of every output path; required")
    config = luigi.Parameter(
        default=law.config.get_expanded("tmet", "default_config", "run2_2018_synth"),
        description="name of the analysis config; default: [tmet] default_config of law.cfg",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config_inst = get_config(self.config)

    def store_parts(self):
        return (self.task_family, self.config)

    def target(self, *path, **kwargs):
        """The output ``path`` of this task in the store, e.g. store/Skim/<config>/<dataset>/<version>/..."""
        return law.LocalFileTarget(os.path.join(store_location(), *self.store_parts(), self.version, *path), **kwargs)


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
