"""Plots and Limits: the pictures and numbers a physicist looks at first."""

import os
import tempfile

import law

from config.common import shift_sources
from tasks.base import AnalysisTask
from tasks.datacard import Datacard, HistogramsConsumer

EXTENSIONS = ("png", "pdf")


def rgb(color):
    """An order process color (0..255 components) as a matplotlib color."""
    return tuple(c / 255.0 for c in color)


class Plots(HistogramsConsumer):

    def output(self):
        config = self.config_inst
        outputs = {"totals": self.target("stack_totals.json")}
        for category in config.categories.names():
            names = list(config.variables.names()) + [f"shift_{source}" for source in shift_sources(config)]
            for name in names:
                outputs[f"{category}/{name}"] = {ext: self.target(category, f"{name}.{ext}") for ext in EXTENSIONS}
        return outputs

    @law.decorator.log
    @law.decorator.safe_output
    def run(self):
        from analysis.histograms import as_arrays
        from analysis.plots import plot_shift, plot_stack, total_uncertainty

        config = self.config_inst
        outputs = self.output()
        lumi_fb = config.x.luminosity.nominal / 1000.0
        totals = {}
        with tempfile.TemporaryDirectory() as tmp:
            for variable in config.variables:
                merged, backgrounds, signals, data = self.merged_histograms(variable.name)
                numbers = self.lnn_numbers(backgrounds)
                x_label = variable.get_full_x_title()
                for category in config.categories.names():
                    edges, nominal, variances = as_arrays({p: merged[p]["nominal"][category] for p in backgrounds})
                    total = sum(nominal.values())
                    shifts = {
                        source: tuple(sum(as_arrays({p: merged[p][f"{source}_{d}"][category]
                                                     for p in backgrounds})[1].values()) for d in ("up", "down"))
                        for source in shift_sources(config)
                    }
                    # luminosity acts on the total, each cross section on its own process
                    lnn = [(*numbers[backgrounds[0]]["lumi"], total)] + [
                        (*numbers[p][f"xsec_{p}"], nominal[p]) for p in backgrounds
                    ]
                    band = total_uncertainty(total, sum(variances.values()), shifts, lnn)
                    observed = None
                    if data and category not in config.x.blinded_categories:
                        observed = sum(as_arrays({p: merged[p]["nominal"][category] for p in data})[1].values())
                    _, signal_values, _ = as_arrays({p: merged[p]["nominal"][category] for p in signals})
                    base = os.path.join(tmp, f"{category}__{variable.name}")
                    stacked = plot_stack(
                        base, edges,
                        [(config.get_process(p).label, rgb(config.get_process(p).color), nominal[p]) for p in backgrounds],
                        [(config.get_process(p).label, None, signal_values[p]) for p in signals],
                        observed, band, x_label, category, lumi_fb,
                    )
                    totals.setdefault(category, {})[variable.name] = [float(v) for v in stacked]
                    self.store_plots(base, outputs[f"{category}/{variable.name}"])
                    if variable.name == config.x.fit_variable:
                        for source, (up, down) in shifts.items():
                            base = os.path.join(tmp, f"{category}__shift_{source}")
                            plot_shift(base, edges, total, up, down, source, x_label, category, lumi_fb)
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
