"""Datacard and Yields: from the histograms of every dataset and shift to Combine cards and tables."""

import json
import os
import subprocess

import law

import analysis
from config.common import shift_sources
from tasks.base import AnalysisTask, location
from tasks.histograms import Histograms


def top_level_process(config, dataset):
    """The top-level process (tt, st, ..., a signal point, data) a dataset belongs to."""
    process = dataset.processes.get_first()
    for candidate in config.x.mc_processes + [p for p in config.processes if p.is_data]:
        if candidate == process or candidate.has_process(process, deep=True):
            return candidate
    return process


def code_revision():
    """The git commit of the tmet checkout, for the cards' provenance header."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=os.path.dirname(__file__),
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class HistogramsConsumer(AnalysisTask):
    """A config-level task reading the Histograms of every dataset under every shift."""

    def requires(self):
        return {dataset.name: Histograms.req(self, dataset=dataset.name, shift="all")
                for dataset in self.config_inst.datasets}

    def merged_histograms(self, variables):
        """({variable: {process: {shift: {category: TH1D}}}}, backgrounds, signals, data): the
        histograms of ``variables`` summed over each top-level process's datasets, and the
        process names present."""
        from analysis.datacard import merge_datasets, read_histograms

        config = self.config_inst
        categories = config.categories.names()
        per_dataset, process_of = {}, {}
        for name, outputs in self.input().items():
            per_dataset[name] = {shift: read_histograms(location(t), categories, variables)
                                 for shift, t in outputs.items()}
            process_of[name] = top_level_process(config, config.get_dataset(name)).name
        merged = {
            variable: merge_datasets({d: {s: h[variable] for s, h in shifts.items()} for d, shifts in per_dataset.items()},
                                     process_of)
            for variable in variables
        }
        present = merged[variables[0]]
        backgrounds = [p.name for p in config.x.background_processes if p.name in present]
        signals = [p.name for p in config.x.signal_processes if p.name in present]
        data = [p.name for p in config.processes if p.is_data and p.name in present]
        return merged, backgrounds, signals, data

    def templates(self):
        """({category: {template name: TH1D}}, backgrounds, signals, floored-bin reports) of the fit variable."""
        from analysis.datacard import category_templates

        config = self.config_inst
        categories = config.categories.names()
        merged, backgrounds, signals, data = self.merged_histograms([config.x.fit_variable])
        merged = merged[config.x.fit_variable]
        templates, reports = {}, []
        for category in categories:
            templates[category], category_reports = category_templates(
                category, merged, backgrounds, signals, shift_sources(config), data,
                config.x.blinded_categories,
            )
            reports += category_reports
        return templates, backgrounds, signals, reports

    def lnn_numbers(self, processes):
        """{process: {nuisance: (relative up, relative down)}}: luminosity and cross sections."""
        from analysis.datacard import process_xsec, relative_uncertainty

        config = self.config_inst
        lumi = config.x.luminosity
        lumi_up, lumi_down = relative_uncertainty(lumi)
        numbers = {}
        for name in processes:
            process = config.get_process(name)
            numbers[name] = {
                "lumi": (lumi_up, lumi_down),
                f"xsec_{name}": relative_uncertainty(process_xsec(process, config.campaign.ecm)),
            }
        return numbers


class Datacard(HistogramsConsumer):

    def signal_sets(self):
        """{card set: signals}: one per signal point, or all signals together ("all")."""
        signals = [p.name for p in self.config_inst.x.signal_processes
                   if any(top_level_process(self.config_inst, d).name == p.name for d in self.config_inst.datasets)]
        if self.config_inst.x.datacard_signal_mode == "all":
            return {"all": signals}
        return {signal: [signal] for signal in signals}

    def output(self):
        outputs = {}
        for card_set in self.signal_sets():
            for channel in self.config_inst.categories.names() + ["combined"]:
                outputs[f"{card_set}/{channel}"] = {
                    "card": self.target(card_set, f"datacard_{channel}.txt"),
                    "shapes": self.target(card_set, f"shapes_{channel}.root"),
                }
        return outputs

    @law.decorator.log
    @law.decorator.safe_output
    def run(self):
        from analysis.datacard import card_text, lnn_value, select_templates, write_shapes

        templates, backgrounds, all_signals, reports = self.templates()
        for report in reports:
            self.publish_message(f"floored: {report}")
        sources = shift_sources(self.config_inst)
        numbers = self.lnn_numbers(backgrounds + all_signals)
        header = [
            f"made by tmet {analysis.__version__} (commit {code_revision()}), config {self.config}, "
            f"version {self.version}",
            f"fit variable {self.config_inst.x.fit_variable}; blinded: "
            f"{', '.join(self.config_inst.x.blinded_categories) or 'none'}",
        ]
        categories = self.config_inst.categories.names()
        outputs = self.output()
        for card_set, signals in self.signal_sets().items():
            processes = signals + backgrounds
            lnn = {}
            for process in processes:
                for nuisance, (up, down) in numbers[process].items():
                    if up or down:
                        lnn.setdefault(nuisance, {})[process] = lnn_value(up, down)
            for channel in categories + ["combined"]:
                channels = categories if channel == "combined" else [channel]
                floored = [f"floored: {r}" for r in reports if r.split("/")[0] in channels
                           and r.split("/")[1].split(":")[0] in processes]
                chosen = {c: select_templates(templates[c], processes, sources) for c in channels}
                out = outputs[f"{card_set}/{channel}"]
                out["card"].parent.touch()
                with out["shapes"].localize("w") as tmp:
                    write_shapes(tmp.abspath, chosen)
                with out["card"].localize("w") as tmp:
                    with open(tmp.abspath, "w") as f:
                        f.write(card_text(channels, chosen, os.path.basename(out["shapes"].path), backgrounds,
                                          signals, sources, lnn, header + floored))
        self.publish_message(f"wrote {len(outputs)} cards to {location(self.target())}")


class Yields(HistogramsConsumer):

    def output(self):
        return {"json": self.target("yields.json"), "markdown": self.target("yields.md")}

    @law.decorator.log
    @law.decorator.safe_output
    def run(self):
        from analysis.datacard import yields_table

        templates, backgrounds, signals, _ = self.templates()
        sources = shift_sources(self.config_inst)
        table = yields_table(templates, backgrounds + signals, sources, self.lnn_numbers(backgrounds + signals))
        rows = ["data_obs"] + backgrounds + signals
        categories = list(table)

        def cell(number):
            stat = number.u("stat")[0]
            syst = (sum(max(u) ** 2 for name, u in number.uncertainties.items() if name != "stat")) ** 0.5
            return f"{number.nominal:.2f} ± {stat:.2f} (stat) ± {syst:.2f} (syst)"

        markdown = ["| process | " + " | ".join(categories) + " |", "|---" * (len(categories) + 1) + "|"]
        markdown += [f"| {p} | " + " | ".join(cell(table[c][p]) for c in categories) + " |" for p in rows]
        text = "\n".join(markdown) + "\n"
        payload = {c: {p: {"nominal": n.nominal, "uncertainties": {k: list(v) for k, v in n.uncertainties.items()}}
                       for p, n in row.items()} for c, row in table.items()}
        outputs = self.output()
        outputs["json"].parent.touch()
        outputs["json"].dump(payload, indent=1, formatter="json")
        outputs["markdown"].dump(text, formatter="text")
        self.publish_message(text)
