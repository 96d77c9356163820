"""Shared parameters, output locations and config lookup of every tmet task.

Two levels only: ``AnalysisTask`` (version, config, store) and ``DatasetTask``
(a dataset of that config); workflow types are mixed into the final classes.
"""

import os

import law
import luigi

from analysis.errors import TmetError
from config.analysis import get_config
from config.datasets import get_dataset


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
