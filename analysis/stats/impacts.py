"""The impacts of a card's parameters on r, by Combine's method (``combineTool.py -M Impacts``),
written in its JSON format so that Combine's ``plotImpacts.py`` reads them.

For every parameter of the model (the card's nuisances and the MC-statistics parameters, as
combineTool takes by default; ``exclude`` drops the names matching a regular expression, as
its ``--exclude 'rgx{...}'``): its 68 % interval with every other parameter refitted (its
``--algo impact``), then r refitted with the parameter held at each end. Its entry holds
``fit`` [low end, best, high end], ``r`` [r there, best r, r there], ``impact_r`` the larger
change of r, ``type`` and ``prefit`` (its constraint alone: [-1, 0, 1], or where a Poisson
constraint rises by 0.5) and ``groups`` (the card's groups that hold it, ``autoMCStats`` for
the MC-statistics parameters). The POI's entry is r's 68 % interval (``--algo singles``).
Parameters are fitted in chunks, here or on Dask workers, each chunk from the best fit.
"""

import re

from analysis.engine.dispatch import dispatch
from analysis.stats.fits import POI, fit_data, fit_result, interval, interval_ends, prefit_interval
from analysis.stats.likelihood import Fit
from analysis.stats.model import POISSON

def impacts(model, observed, exclude=None, client=None, chunks=1):
    """The impacts JSON of ``model`` (module docstring) on the card's data where
    ``observed``, else on the background-only Asimov data; ``client``: a Dask client whose
    workers fit ``chunks`` chunks of the parameters."""
    data, kind = fit_data(model, observed)
    fit_ = Fit(model, data)
    best = fit_result(fit_)
    low, high = interval(fit_, best, POI)
    names = [n for n in best.names if n != POI and not (exclude and re.search(exclude, n))]
    calls = [(model, data, names[k::chunks]) for k in range(max(1, min(chunks, len(names))))]
    found = {}
    for part in dispatch(client, parameter_impacts, calls, what="the impacts' fits"):
        found.update(part)
    member = {name: [g for g, members in model.groups.items() if name in members] for name in names}
    params = []
    for name in names:
        k = model.term_names.index(name) if name in model.term_names else None
        fitted, r_values = found[name]
        params.append({
            "name": name, "fit": fitted, POI: r_values,
            f"impact_{POI}": max(abs(r_values[0] - r_values[1]), abs(r_values[2] - r_values[1])),
            "type": "Poisson" if k is not None and model.term_kind[k] == POISSON else "Gaussian",
            "prefit": list(prefit_interval(model, name)),
            "groups": member[name],
        })
    return {"POIs": [{"name": POI, "fit": [low, best.value(POI), high]}], "params": params, "method": "default",
            "data": kind}


def parameter_impacts(setup, model, data, names):
    """{name: ([low end, best, high end], [r there, best r, r there])} of the parameters
    ``names``, from the best fit of ``data`` (a chunk of ``impacts``; ``setup``: of
    analysis.engine.dispatch)."""
    del setup  # the model comes with the call: no file to find
    fit_ = Fit(model, data)
    best = fit_result(fit_)
    out = {}
    for name in names:
        (low, at_low), (high, at_high) = interval_ends(fit_, best, name)
        out[name] = ([low, best.value(name), high], [at_low.r, best.value(POI), at_high.r])
    return out
