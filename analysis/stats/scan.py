"""The likelihood scan of r and the breakdown of its uncertainty by groups of nuisances, as
Combine's ``-M MultiDimFit --algo grid`` and ``--freezeNuisanceGroups`` make them.

- Scan: 2 delta NLL of r, every other parameter profiled, at ``points`` points placed as
  Combine places them (at the centres of ``points`` equal steps of the range), the range
  from the fit: from the best r less 4 times its lower error (not below 0) to the best r
  plus 4 times its upper error, which holds the 95 % interval. The 68 % and 95 % intervals
  are read from the curve where 2 delta NLL crosses 1 and 3.84, as Combine's plot1DScan.py
  reads them: ROOT's cubic spline (TSpline3) through the points and the best fit (2 delta
  NLL = 0), its crossings found between the points that bracket them.
- Breakdown: r's 68 % interval with the groups frozen at their best-fit values one after
  the other, in the card's order, then every nuisance (Combine's ``--freezeParameters
  allConstrainedNuisances``: what is left is the statistical part); a group's share of the
  error is the difference in quadrature of the errors before and after it is frozen, on each
  side (Combine's documented breakdown).
"""

import numpy as np

from analysis.engine.root_setup import import_root
from analysis.stats.fits import POI, fit_data, fit_result, interval
from analysis.stats.likelihood import Fit

WIDTH = 4.0  # the scan's range, in errors of r on each side
LEVELS = {"68": 1.0, "95": 3.84}  # 2 delta NLL of the intervals
STATISTICAL = "statistical"


def grid(low, high, points):
    """Combine's grid: the centres of ``points`` equal steps from ``low`` to ``high``."""
    return low + (np.arange(points) + 0.5) * (high - low) / points


def curve_interval(r, values, level, bounds):
    """(low, high) where the curve 2 delta NLL (``values`` at ``r``, the best fit among them)
    crosses ``level`` on either side of its minimum; an end the scan does not reach is the
    end of its range ``bounds``."""
    ROOT = import_root()
    order = np.argsort(r)
    r, values = np.asarray(r, float)[order], np.asarray(values, float)[order]
    spline = ROOT.TSpline3("scan", r, values, len(r))
    best = int(np.argmin(values))

    def crossing(a, b):  # bisection of the spline between points a and b that bracket the level
        low, high = r[a], r[b]
        rising = values[b] > values[a]
        for _ in range(60):
            middle = 0.5 * (low + high)
            if (spline.Eval(middle) > level) == rising:
                high = middle
            else:
                low = middle
        return 0.5 * (low + high)

    below = [k for k in range(best) if values[k] > level >= values[k + 1]]
    above = [k for k in range(best, len(r) - 1) if values[k] <= level < values[k + 1]]
    return (crossing(below[-1], below[-1] + 1) if below else float(bounds[0]),
            crossing(above[0], above[0] + 1) if above else float(bounds[1]))


def likelihood_scan(model, observed, points, groups):
    """{"data", "r", "points": [[r, 2 delta NLL], ...], "intervals": {"68": [low, high],
    "95": [...]}, "breakdown": {group | STATISTICAL: {"up", "down"}}, "error": {"up", "down"}}
    of ``model`` on the card's data where ``observed`` (else the background-only Asimov
    data); ``groups``: {group: [parameter names]} in the order they are frozen."""
    data, kind = fit_data(model, observed)
    fit_ = Fit(model, data)
    best = fit_result(fit_)
    r_best, nll = best.value(POI), best.minimum.nll
    low, high = interval(fit_, best, POI)
    bounds = (max(0.0, r_best - WIDTH * (r_best - low)), r_best + WIDTH * (high - r_best))
    r = grid(*bounds, points)
    values = np.array([2 * (fit_.minimum(r=value).nll - nll) for value in r])
    breakdown, frozen, previous = {}, {}, (r_best - low, high - r_best)
    for group, members in list(groups.items()) + [(STATISTICAL, None)]:
        frozen.update({name: best.value(name) for name in ([n for n in best.names if n != POI]
                                                           if members is None else members)})
        ends = interval(fit_, best, POI, frozen)
        errors = (r_best - ends[0], ends[1] - r_best)
        if members is None:
            breakdown[group] = {"down": errors[0], "up": errors[1]}
        else:
            breakdown[group] = {"down": float(np.sqrt(max(previous[0] ** 2 - errors[0] ** 2, 0.0))),
                                "up": float(np.sqrt(max(previous[1] ** 2 - errors[1] ** 2, 0.0)))}
        previous = errors
    curve = (np.append(r, r_best), np.append(values, 0.0))
    return {"data": kind, POI: r_best, "points": [[float(a), float(b)] for a, b in zip(r, values)],
            "range": list(bounds),
            "intervals": {name: list(curve_interval(*curve, level, bounds)) for name, level in LEVELS.items()},
            "error": {"down": r_best - low, "up": high - r_best}, "breakdown": breakdown}
