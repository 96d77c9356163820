"""After the limit: FitDiagnostics, Impacts, GoodnessOfFit and LikelihoodScan, each on the
combined card of every card set (a signal point, as Limits), on the card's model
(analysis/stats). In a config with a blinded category or without data, every fit uses the
background-only Asimov data set, which each JSON says ("data": "observed" or "asimov")."""

import os
import tempfile

import law
import luigi

from config.processes import card_sets
from tasks.base import SignalTask
from tasks.datacard import Datacard
from tasks.executor import ExecutorTask
from tasks.freshness import trusted_run
from tasks.results import EXTENSIONS, copy_figure, local_cards


class CardFitTask(ExecutorTask, SignalTask):
    """A task of fits on each card set's combined card: its outputs per card set (a JSON
    ``result_name`` and the figures of ``figure_names()``), made by the function of
    analysis.stats.reviews named ``review`` with ``review_options()``, run where the executor
    says (with a Dask client where it splits its work: Impacts, GoodnessOfFit)."""

    local_cluster = True
    loop_writes_output = False  # the results come back to the client, which writes them
    result_name = None
    review = None

    def review_options(self):
        return {}

    def requires(self):
        return Datacard.req(self) if self.has_signal else {}

    def used_config(self):
        from analysis.stats.limits import observed

        # the data the fits use; the cards hold everything else
        return {"observed": observed(self.config_inst)}

    def figure_names(self, card_set):
        return [self.result_name.split(".")[0]]

    def output(self):
        return {card_set: {"json": self.target(card_set, self.result_name),
                           **{name: {ext: self.target(card_set, f"{name}.{ext}") for ext in EXTENSIONS}
                              for name in self.figure_names(card_set)}}
                for card_set in card_sets(self.config_inst)}

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.stats import reviews
        from analysis.stats.limits import observed
        from analysis.stats.model import card_model

        self.check_signal()
        config = self.config_inst
        outputs = self.output()
        with tempfile.TemporaryDirectory() as tmp:
            cards = local_cards(config, self.input(), tmp)
            for card_set, signals in card_sets(config).items():
                model = card_model(cards[card_set], signals[0] if len(signals) == 1 else None)
                result, figures = self.event_loop(getattr(reviews, self.review), config, model, observed(config),
                                                  os.path.join(tmp, f"{card_set}_figures"), **self.review_options())
                for name, base in figures.items():
                    copy_figure(base, outputs[card_set][name])
                # numpy's numbers and arrays as JSON's
                outputs[card_set]["json"].dump(result, indent=1, formatter="json",
                                               default=lambda value: getattr(value, "tolist", lambda: float(value))())
                self.publish_message(f"{card_set}: {self.summary(result)}")


class FitDiagnostics(CardFitTask):

    code_modules = ("analysis.stats.reviews",)
    result_name = "fit_diagnostics.json"
    review = "diagnostics_of_card"

    def figure_names(self, card_set):
        return ["pulls", "correlations"] + [f"postfit_{c}" for c in self.config_inst.categories.names()]

    @staticmethod
    def summary(result):
        r = result["fit_s"]["r"]
        return f"r = {r['value']:.4g} -{r['error_down']:.3g}/+{r['error_up']:.3g} ({result['data']} data)"


class Impacts(CardFitTask):

    exclude = luigi.Parameter(
        default="", description="leave out the parameters whose names match this regular expression (as "
        "combineTool's --exclude 'rgx{...}', e.g. 'prop_bin.*'); default: none, every parameter",
    )

    code_modules = ("analysis.stats.reviews",)
    result_name = "impacts.json"
    review = "impacts_of_card"

    def review_options(self):
        return {"exclude": self.exclude or None}

    @staticmethod
    def summary(result):
        largest = max(result["params"], key=lambda p: p["impact_r"], default=None)
        return f"{len(result['params'])} impacts, the largest {largest['name']} ({largest['impact_r']:.3g})" \
            if largest else "no parameter"


class GoodnessOfFit(CardFitTask):

    toys = luigi.IntParameter(default=500, description="toys of the saturated test statistic; default: 500")
    seed = luigi.IntParameter(default=123456, description="seed of the toys (toy i from (seed, i)); default: 123456")

    code_modules = ("analysis.stats.reviews",)
    result_name = "gof.json"
    review = "goodness_of_card"

    def review_options(self):
        return {"toys": self.toys, "seed": self.seed}

    @staticmethod
    def summary(result):
        return f"saturated {result['statistic']:.4g}, p = {result['p_value']:.3f} ({len(result['toys'])} toys)"


class LikelihoodScan(CardFitTask):

    points = luigi.IntParameter(default=50, description="points of the scan of r; default: 50")

    code_modules = ("analysis.stats.reviews",)
    result_name = "scan.json"
    review = "scan_of_card"

    def review_options(self):
        return {"points": self.points}

    @staticmethod
    def summary(result):
        low, high = result["intervals"]["68"]
        return f"r = {result['r']:.4g}, 68 % [{low:.3g}, {high:.3g}]"
