"""The four results a review asks for after the limit, each computed and drawn for one card:
what the tasks of tasks/fits.py run (in a child process, with a Dask client where the work
is split: the impacts' parameters, the toys). Each returns (the JSON-able result, {figure
name: its path without extension in ``directory``})."""

import os

from analysis.stats import fit_plots
from analysis.stats.diagnostics import fit_diagnostics
from analysis.stats.goodness import goodness_of_fit
from analysis.stats.impacts import impacts
from analysis.stats.scan import likelihood_scan


def workers(client, per_worker=1):
    """Chunks to split work into: ``per_worker`` per worker of ``client`` (1 without one)."""
    return per_worker * len(client.scheduler_info()["workers"]) if client else 1


def lumi_fb(config):
    return config.x.luminosity.nominal / 1000.0


def diagnostics_of_card(config, model, observed, directory, client=None):
    del client  # two fits and r's interval: here
    results, fits = fit_diagnostics(model, observed)
    return results, fit_plots.diagnostics_figures(config, model, results, fits, directory)


def impacts_of_card(config, model, observed, directory, exclude=None, client=None):
    result = impacts(model, observed, exclude=exclude, client=client, chunks=workers(client))
    base = os.path.join(directory, "impacts")
    fit_plots.plot_impacts(base, result, lumi_fb(config))
    return result, {"impacts": base}


def goodness_of_card(config, model, observed, directory, toys, seed, client=None):
    result = goodness_of_fit(model, observed, toys, seed, client=client, chunks=workers(client, 2))
    base = os.path.join(directory, "gof")
    fit_plots.plot_goodness(base, result["toys"], result["statistic"], result["p_value"], lumi_fb(config))
    return result, {"gof": base}


def scan_of_card(config, model, observed, directory, points, client=None):
    del client  # a scan of some tens of fits: here
    result = likelihood_scan(model, observed, points, model.groups)
    base = os.path.join(directory, "scan")
    fit_plots.plot_scan(base, result["points"], result["r"], result["intervals"], lumi_fb(config))
    return result, {"scan": base}
