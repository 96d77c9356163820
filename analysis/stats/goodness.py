"""Goodness of fit of a card: the saturated test statistic, as Combine's ``-M GoodnessOfFit
--algo saturated``, on the data and on toys generated as its ``-t N`` generates them.

The statistic is 2 (NLL of the best fit, r >= 0 free - NLL of the saturated model): the
likelihood of analysis/stats/likelihood.py is written relative to the saturated model, the
constraints included (they vanish at their global observables, where the saturated model
has them), so it is 2 NLL at the minimum. A toy (Combine's default, not ``--toysFrequentist``)
draws every parameter from its constraint (the nuisances and the Gaussian MC-statistics
parameters from unit Gaussians within their ranges, a Poisson one from the Gamma
distribution of its constraint as a function of its mean), takes the expected events of the
background-only model (``--expectSignal`` 0) there and draws each bin's count from a Poisson
distribution; it is fitted at the nominal global observables. Toy i is drawn from the
generator seeded with (seed, i), so that toys do not depend on how they are split: here or
in chunks on Dask workers.
"""

import numpy as np

from analysis.engine.dispatch import dispatch
from analysis.stats.fits import fit_data
from analysis.stats.likelihood import Fit, profile_at
from analysis.stats.model import POISSON, yields

ALGORITHM = "saturated"


def statistic(model, data, search=False):
    """The saturated statistic of ``data`` (per bin)."""
    return 2 * Fit(model, data).minimum(search=search).nll


def toy_data(model, rng):
    """One toy's counts per bin (module docstring)."""
    theta = np.clip(rng.standard_normal(len(model.nuisances)), -model.theta_max, model.theta_max)
    poisson = model.term_kind == POISSON
    terms = np.where(poisson, rng.gamma(model.term_events + 1.0), rng.standard_normal(len(model.term_kind)))
    terms = np.clip(terms, model.term_low, model.term_high)
    y = yields(model, theta, 0.0)
    return rng.poisson(profile_at(model, y, np.zeros(len(model.data)), terms).events).astype(float)


def toy_statistics(setup, model, seed, toys):
    """The statistics of the toys numbered ``toys`` (a chunk of goodness_of_fit; ``setup``: of
    analysis.engine.dispatch)."""
    del setup  # the model comes with the call: no file to find
    return [statistic(model, toy_data(model, np.random.default_rng([seed, toy]))) for toy in toys]


def goodness_of_fit(model, observed, toys, seed, client=None, chunks=1):
    """{"algorithm", "data", "statistic", "toys": [statistic per toy], "p_value",
    "p_value_error", "seed"}: the statistic on the card's data where ``observed`` (else on
    the background-only Asimov data), ``toys`` toys from ``seed``, in ``chunks`` chunks on
    the workers of the Dask ``client`` (or here)."""
    data, kind = fit_data(model, observed)
    observed_statistic = statistic(model, data, search=True)
    numbers = list(range(toys))
    calls = [(model, seed, numbers[k::chunks]) for k in range(max(1, min(chunks, toys)))]
    by_toy = {}
    for (_, _, part), values in zip(calls, dispatch(client, toy_statistics, calls, what="the goodness-of-fit toys")):
        by_toy.update(zip(part, values))
    values = [by_toy[toy] for toy in numbers]
    p = float(np.mean(np.asarray(values) >= observed_statistic)) if values else float("nan")
    return {"algorithm": ALGORITHM, "data": kind, "statistic": observed_statistic, "toys": values, "p_value": p,
            "p_value_error": float(np.sqrt(p * (1 - p) / toys)) if toys else float("nan"), "seed": seed}
