"""The shift-aware mixin of the tasks that run the analysis graph of a dataset on its skims
(Histograms, Snapshot): the shifts they make, what they require and what the graph reads."""

import contextlib

import luigi

from analysis.errors import TmetError, checked_name
from config.shifts import get_shift, shape_shifts
from tasks.btag import BTagEfficiency
from tasks.skim import Skim
from tasks.store import readable


class ShiftTask:
    """Mixin of a DatasetTask that runs the analysis graph on the dataset's skims under one
    shape shift (or all of them, where ``allow_all_shifts``); ``shift_insts`` are the order
    shifts it makes, in config order."""

    shift = luigi.Parameter(
        default="nominal", description="a shape shift of the config (e.g. jes_up); default: nominal",
    )
    allow_all_shifts = False

    def __init__(self, *args, **kwargs):
        from analysis.physics.checks import check_skim_is_looser

        super().__init__(*args, **kwargs)
        self.shift_insts = self.resolve_shifts()
        check_skim_is_looser(self.config_inst)  # before any task of the run starts

    def resolve_shifts(self):
        """The shape shifts this task makes: data has only nominal; rate shifts have no histograms."""
        valid = [get_shift(self.config_inst, "nominal")]
        if not self.dataset_inst.is_data:
            valid += shape_shifts(self.config_inst)
        if self.shift == "all" and self.allow_all_shifts:
            return valid
        shift = get_shift(self.config_inst, checked_name("--shift", self.shift))
        if shift not in valid:
            names = [s.name for s in valid] + (["all"] if self.allow_all_shifts else [])
            raise TmetError(f"shift '{self.shift}' has no {self.task_family} output for dataset "
                            f"'{self.dataset}'; valid: {', '.join(names)}")
        return [shift]

    def requires(self):
        reqs = {"skim": Skim.branch_tasks_of(self)}
        if not self.dataset_inst.is_data:
            reqs["btag"] = BTagEfficiency.req(self)
        return reqs

    @contextlib.contextmanager
    def graph_inputs(self):
        """(where ROOT reads the skims, their events, the WeightSums of their inputs, local path
        of the b-tag efficiency file): what the analysis graph of the dataset reads (the sums
        and the file None for data)."""
        from analysis.physics.skim import skim_totals

        inputs = self.input()
        with readable(inputs["skim"]) as paths:
            events, sums = skim_totals(paths, weights=not self.dataset_inst.is_data)
            if self.dataset_inst.is_data:
                yield paths, events, None, None
                return
            with inputs["btag"].localize("r") as btag:
                yield paths, events, sums, btag.abspath
