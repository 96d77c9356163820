"""Plots and Limits: the pictures and numbers a physicist looks at first."""

import os
import tempfile

import law

from analysis.errors import unknown_name_error
from config.common import shift_sources
from tasks.base import AnalysisTask
from tasks.datacard import Datacard, HistogramsConsumer

EXTENSIONS = ("png", "pdf")


class Plots(HistogramsConsumer):

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

    def store_parts(self):
        # a subset of variables gets its own directory, so that its totals never stand for all
        return super().store_parts() + (("__".join(self.variables),) if self.variables else ())

    def output(self):
        config = self.config_inst
        outputs = {"totals": self.target("stack_totals.json")}
        with_shifts = any(v.name == config.x.fit_variable for v in self.variable_insts)
        for category in config.categories.names():
            names = [v.name for v in self.variable_insts]
            names += [f"shift_{source}" for source in shift_sources(config)] if with_shifts else []
            for name in names:
                outputs[f"{category}/{name}"] = {ext: self.target(category, f"{name}.{ext}") for ext in EXTENSIONS}
        return outputs

    @law.decorator.log
    @law.decorator.safe_output
    def run(self):
        from analysis.datacard import category_templates, template_name
        from analysis.histograms import as_arrays
        from analysis.plots import plot_shift, plot_stack, total_uncertainty

        config = self.config_inst
        outputs = self.output()
        lumi_fb = config.x.luminosity.nominal / 1000.0
        totals = {}
        all_merged, backgrounds, signals, data = self.merged_histograms([v.name for v in self.variable_insts])
        numbers = self.lnn_numbers(backgrounds)
        sources = shift_sources(config)
        with tempfile.TemporaryDirectory() as tmp:
            for variable in self.variable_insts:
                for category in config.categories.names():
                    # the templates Combine sees (empty background bins floored), so that the
                    # stacks add up to the Yields table
                    templates, _ = category_templates(category, all_merged[variable.name], backgrounds, signals,
                                                      sources, data, config.x.blinded_categories)
                    edges, values, variances = as_arrays(templates)
                    total = sum(values[p] for p in backgrounds)
                    shifts = {
                        source: tuple(sum(values[template_name(p, f"{source}_{d}")] for p in backgrounds)
                                      for d in ("up", "down"))
                        for source in sources
                    }
                    # luminosity acts on the total, each cross section on its own process
                    lnn = [(*numbers[backgrounds[0]]["lumi"], total)] + [
                        (*numbers[p][f"xsec_{p}"], values[p]) for p in backgrounds
                    ]
                    band = total_uncertainty(total, sum(variances[p] for p in backgrounds), shifts, lnn)
                    blinded = not data or category in config.x.blinded_categories
                    base = os.path.join(tmp, f"{category}__{variable.name}")
                    stacked = plot_stack(
                        base, edges,
                        [(config.get_process(p).label, config.get_process(p).color, values[p]) for p in backgrounds],
                        [(config.get_process(p).label, None, values[p]) for p in signals],
                        None if blinded else values["data_obs"], band, variable.x_title, category, lumi_fb,
                        unit=variable.unit,
                    )
                    totals.setdefault(category, {})[variable.name] = [float(v) for v in stacked]
                    self.store_plots(base, outputs[f"{category}/{variable.name}"])
                    if variable.name == config.x.fit_variable:
                        for source, (up, down) in shifts.items():
                            base = os.path.join(tmp, f"{category}__shift_{source}")
                            plot_shift(base, edges, total, up, down, source, variable.x_title, category, lumi_fb,
                                       unit=variable.unit)
                            self.store_plots(base, outputs[f"{category}/shift_{source}"])
        outputs["totals"].dump(totals, indent=1, formatter="json")
        self.publish_message(f"wrote {2 * (len(outputs) - 1)} plots")

    @staticmethod
    def store_plots(base, targets):
        for ext, target in targets.items():
            target.parent.touch()
            target.copy_from_local(f"{base}.{ext}")


class Limits(AnalysisTask):

    def requires(self):
        return Datacard.req(self)

    def output(self):
        outputs = {"json": self.target("limits.json")}
        outputs.update({ext: self.target(f"limits.{ext}") for ext in EXTENSIONS})
        return outputs

    @law.decorator.log
    @law.decorator.safe_output
    def run(self):
        from analysis.limits import asymptotic_limits, build_workspace, parse_datacard
        from analysis.plots import plot_limits

        config = self.config_inst
        observed = not config.x.blinded_categories
        cards = self.input()
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for card_set, signals in self.requires().signal_sets().items():
                combined = cards[f"{card_set}/combined"]
                local_card = os.path.join(tmp, card_set, os.path.basename(combined["card"].path))
                combined["card"].copy_to_local(local_card)
                combined["shapes"].copy_to_local(os.path.join(tmp, card_set, os.path.basename(combined["shapes"].path)))
                card = parse_datacard(local_card)
                for signal in signals:
                    results[signal] = asymptotic_limits(build_workspace(card, signal), observed=observed)
                    self.publish_message(f"{signal}: {results[signal]}")
            masses = {s: config.get_process(s).x.mediator_mass for s in results}
            base = os.path.join(tmp, "limits")
            plot_limits(base, masses, results, config.x.luminosity.nominal / 1000.0)
            for ext in EXTENSIONS:
                self.output()[ext].parent.touch()
                self.output()[ext].copy_from_local(f"{base}.{ext}")
        self.output()["json"].dump(results, indent=1, formatter="json")
