"""Plots and Limits: the pictures and numbers a physicist looks at first."""

import os
import tempfile

import law

from analysis.errors import unknown_name_error
from config.processes import card_sets
from config.shifts import shape_source_names
from tasks.base import SignalTask
from tasks.datacard import Datacard
from tasks.histograms import every_dataset_histograms, histogram_files
from tasks.freshness import trusted_run

EXTENSIONS = ("png", "pdf")


def copy_figure(base, targets):
    """The figure drawn at ``base``.<extension> to its ``targets`` ({extension: target})."""
    for ext, target in targets.items():
        target.copy_from_local(f"{base}.{ext}")


def local_cards(config, cards, directory):
    """{card set: local path of its combined card}, each with its shapes file copied from the
    Datacard outputs ``cards`` into ``directory`` (what the statistical model reads)."""
    paths = {}
    for card_set in card_sets(config):
        combined = cards[f"{card_set}/combined"]
        paths[card_set] = os.path.join(directory, card_set, os.path.basename(combined["card"].path))
        combined["card"].copy_to_local(paths[card_set])
        combined["shapes"].copy_to_local(os.path.join(directory, card_set, os.path.basename(combined["shapes"].path)))
    return paths


class Plots(SignalTask):

    variables = law.CSVParameter(
        default=(), description="variables to plot (the fit variable's plots include the shift comparisons); "
        "default: all variables of the config",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.variables:
            if not self.config_inst.has_variable(name):
                raise unknown_name_error("variable", name, self.config_inst.variables.names())
        self.variable_insts = [v for v in self.config_inst.variables if not self.variables or v.name in self.variables]

    code_modules = ("analysis.stats.figures",)

    def requires(self):
        return every_dataset_histograms(self)

    def used_config(self):
        from analysis.stats.figures import used_config

        return used_config(self.config_inst, self.config_inst.datasets.names(), self.variable_insts)

    def store_parts(self):
        # a subset of variables gets its own directory, so that its totals never stand for all
        return super().store_parts() + (("__".join(self.variables),) if self.variables else ())

    def output(self):
        config = self.config_inst
        names = [v.name for v in self.variable_insts]
        if config.x.fit_variable in names:
            names += [f"shift_{source}" for source in shape_source_names(config)]
        outputs = {"totals": self.target("stack_totals.json")}
        for category in config.categories.names():
            for name in names:
                outputs[f"{category}/{name}"] = {ext: self.target(category, f"{name}.{ext}") for ext in EXTENSIONS}
        return outputs

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.stats.figures import draw_figures
        from analysis.stats.templates import templates_of

        self.check_signal()
        config = self.config_inst
        outputs = self.output()
        with histogram_files(self.input()) as files:
            templates = templates_of(config, files, [v.name for v in self.variable_insts])
        with tempfile.TemporaryDirectory() as tmp:
            figures, totals = draw_figures(config, templates, self.variable_insts, tmp)
            for name, base in figures.items():
                copy_figure(base, outputs[name])
        outputs["totals"].dump(totals, indent=1, formatter="json")
        self.publish_message(f"wrote {2 * len(figures)} plots")


class Limits(SignalTask):

    code_modules = ("analysis.stats.limits", "analysis.stats.plots")

    def requires(self):
        return Datacard.req(self) if self.has_signal else {}

    def used_config(self):
        from analysis.stats.limits import used_config

        return used_config(self.config_inst)

    def output(self):
        return {"json": self.target("limits.json"), **{ext: self.target(f"limits.{ext}") for ext in EXTENSIONS}}

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.stats.limits import config_limits
        from analysis.stats.plots import plot_limits

        self.check_signal()
        config = self.config_inst
        cards = self.input()
        outputs = self.output()
        with tempfile.TemporaryDirectory() as tmp:
            results = config_limits(config, local_cards(config, cards, tmp))
            for signal, limits in results.items():
                self.publish_message(f"{signal}: {limits}")
            base = os.path.join(tmp, "limits")
            plot_limits(base, config, results)
            copy_figure(base, {ext: outputs[ext] for ext in EXTENSIONS})
        outputs["json"].dump(results, indent=1, formatter="json")
