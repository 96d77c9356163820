"""Datacard and Yields: from the histograms of every dataset and shift to Combine cards and tables."""

import law

import analysis
from analysis.stats.datacard import card_file_name, channels, shapes_file_name
from analysis.revision import tmet_revision
from config.processes import card_sets
from tasks.base import SignalTask
from tasks.histograms import every_dataset_histograms, histogram_files
from tasks.freshness import trusted_run


def fit_templates(task):
    """The Templates of the fit variable, from the task's Histograms inputs."""
    from analysis.stats.templates import fit_templates

    with histogram_files(task.input()) as files:
        return fit_templates(task.config_inst, files)


class Datacard(SignalTask):

    code_modules = ("analysis.stats.datacard",)

    def requires(self):
        return every_dataset_histograms(self)

    def used_config(self):
        from analysis.stats.templates import used_config

        return used_config(self.config_inst, self.config_inst.datasets.names())

    def output(self):
        return {
            f"{card_set}/{channel}": {
                "card": self.target(card_set, card_file_name(channel)),
                "shapes": self.target(card_set, shapes_file_name(channel)),
            }
            for card_set in card_sets(self.config_inst) for channel in channels(self.config_inst)
        }

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.stats.datacard import datacards, floored_lines, write_shapes

        self.check_signal()
        config = self.config_inst
        templates = fit_templates(self)
        for line in floored_lines(templates.floored, config.categories.names(), templates.backgrounds):
            self.publish_message(f"floored: {line}")
        origin = (f"made by tmet {analysis.__version__} (commit {tmet_revision()['commit']}), config {self.config}, "
                  f"version {self.version}")
        outputs = self.output()
        cards = datacards(config, templates, origin)
        for card in cards:
            out = outputs[f"{card.card_set}/{card.channel}"]
            write_shapes(out["shapes"].abspath, card.templates)
            out["card"].dump(card.text, formatter="text")
        self.publish_message(f"wrote {len(cards)} cards")


class Yields(SignalTask):

    code_modules = ("analysis.stats.yields", "analysis.stats.templates")

    def requires(self):
        return every_dataset_histograms(self)

    def used_config(self):
        from analysis.stats.templates import used_config

        return used_config(self.config_inst, self.config_inst.datasets.names())

    def output(self):
        return {"json": self.target("yields.json"), "markdown": self.target("yields.md")}

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.stats.yields import yields_json, yields_markdown, yields_table

        self.check_signal()
        table, observations = yields_table(self.config_inst, fit_templates(self))
        text = yields_markdown(table, observations)
        outputs = self.output()
        outputs["json"].dump(yields_json(table, observations), indent=1, formatter="json")
        outputs["markdown"].dump(text, formatter="text")
        self.publish_message(text)
