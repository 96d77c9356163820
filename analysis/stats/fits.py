"""What every fit after the limit shares, on the card's Model and its Fit (the one likelihood
of analysis/stats/likelihood.py, which the limits use too): the data a fit uses, the fit
with its covariance, and profile-likelihood intervals.

- Data: the card's observation, or, where any category is blinded or the config has no
  data, Combine's ``-t -1 --expectSignal 0``: the expected events of the background-only
  model at the nominal parameters (no data of a blinded category enters).
- Covariance: the inverse of the Hessian of the NLL over r, every nuisance and every
  MC-statistics parameter at the minimum (Combine's Hesse; the errors of the parameters
  Combine minimises analytically follow from the same matrix).
- Intervals: where 2 (NLL(x) - NLL_min) = 1 with x held and every other parameter refitted
  (Combine's ``--algo singles`` and the intervals of ``--algo impact``), within the
  parameter's range.
"""

from dataclasses import dataclass

import numpy as np

from analysis.errors import TmetError
from analysis.stats.model import POISSON, yields

OBSERVED, ASIMOV = "observed", "asimov"
POI = "r"
CROSSING_PRECISION = 1e-4  # of 2 delta NLL at an interval's end
CROSSING_STEPS = 30


def fit_data(model, observed):
    """(data per bin, OBSERVED or ASIMOV): the card's data where ``observed``, else the
    background-only Asimov data set at the nominal parameters."""
    if observed:
        return model.data, OBSERVED
    theta = np.zeros(len(model.nuisances))
    return np.bincount(model.cell_bin, yields(model, theta, 0.0).events, len(model.data)), ASIMOV


def parameter_names(model):
    """r, the card's nuisances and the MC-statistics parameters, in the order of a FitResult."""
    return [POI] + list(model.nuisances) + list(model.term_names)


@dataclass
class FitResult:
    """A fit's Minimum with the values and covariance of every parameter (parameter_names;
    r's row and column are zero where r was fixed)."""

    minimum: object
    names: list
    values: np.ndarray
    covariance: np.ndarray

    def index(self, name):
        return self.names.index(name)

    def value(self, name):
        return float(self.values[self.index(name)])

    def error(self, name):
        return float(np.sqrt(max(self.covariance[self.index(name), self.index(name)], 0.0)))

    def correlation(self):
        errors = np.sqrt(np.maximum(np.diag(self.covariance), 0.0))
        safe = np.where(errors > 0, errors, 1.0)
        return self.covariance / np.outer(safe, safe)


def fit_result(fit_, r=None, search=True):
    """The FitResult of ``fit_`` (a Fit) at fixed ``r``, or with r >= 0 free (None); ``search``:
    the minimum found from each shape nuisance's mirror image too (Fit.minimum)."""
    minimum = fit_.minimum(r=r, search=search)
    hessian = fit_.hessian(minimum)
    if r is not None:  # r held: its row and column do not enter
        inner = np.linalg.inv(hessian[1:, 1:])
        covariance = np.zeros_like(hessian)
        covariance[1:, 1:] = inner
    else:
        covariance = np.linalg.inv(hessian)
    values = np.concatenate([[minimum.r], minimum.theta, minimum.profile.terms])
    return FitResult(minimum, parameter_names(fit_.model), values, covariance)


def parameter_range(model, name):
    """(low, high) of a parameter: r >= 0, a nuisance within +-its bound, an MC-statistics
    parameter within its range."""
    if name == POI:
        return 0.0, np.inf
    if name in model.nuisances:
        bound = float(model.theta_max[model.nuisances.index(name)])
        return -bound, bound
    k = model.term_names.index(name)
    return float(model.term_low[k]), float(model.term_high[k])


def held_minimum(fit_, name, value, fixed=None):
    """The Minimum with ``name`` held at ``value`` (and the parameters of ``fixed`` at theirs)
    and every other parameter (r >= 0) refitted."""
    if name == POI:
        return fit_.minimum(r=value, fixed=fixed)
    return fit_.minimum(fixed={**(fixed or {}), name: value})


def interval(fit_, result, name, fixed=None):
    """(low, high) of interval_ends."""
    (low, _), (high, _) = interval_ends(fit_, result, name, fixed)
    return low, high


def interval_ends(fit_, result, name, fixed=None):
    """((low, Minimum there), (high, Minimum there)): where 2 delta NLL = 1 below and above the
    best value of ``name`` (a parameter of ``result``), every other parameter refitted but
    those of ``fixed`` ({name: value}, held at their best values: the minimum stays
    ``result``'s); an end beyond the parameter's range is the range's end. Secant steps on the
    assumption that 2 delta NLL grows as the square of the distance, from the Hesse error."""
    best, error = result.value(name), result.error(name)
    low, high = parameter_range(fit_.model, name)
    nll = result.minimum.nll
    ends = []
    for direction, bound in ((-1, low), (1, high)):
        width = error if error > 0 else 0.1 * max(abs(best), 1.0)
        for _ in range(CROSSING_STEPS):
            point = best + direction * width
            if (point - bound) * direction >= 0:
                point = bound
            minimum = held_minimum(fit_, name, point, fixed)
            excess = 2 * (minimum.nll - nll)
            if (point == bound and excess < 1) or abs(excess - 1) < CROSSING_PRECISION:
                ends.append((point, minimum))
                break
            # 2 delta NLL ~ (distance / sigma)^2: the distance where it is 1
            width = abs(point - best) / np.sqrt(max(excess, 1e-6))
        else:
            raise TmetError(f"no end of the 68 % interval of {name} found ({'below' if direction < 0 else 'above'} "
                            f"{best:.6g})")
    return tuple(ends)


def prefit_interval(model, name):
    """(low, nominal, high) of a parameter's constraint alone (combineTool's "prefit"): +-1
    for a Gaussian one, where v - n log v rises by 0.5 for a Poisson MC-statistics one."""
    if name in model.nuisances or model.term_kind[model.term_names.index(name)] != POISSON:
        return -1.0, 0.0, 1.0
    n = float(model.term_events[model.term_names.index(name)])

    def rise(v):
        return v - n * np.log(v) - (n - n * np.log(n)) - 0.5

    ends = []
    for direction in (-1, 1):
        a, b = n, n + direction * np.sqrt(n)
        while rise(b) < 0:
            b = n + 2 * (b - n)
        for _ in range(100):  # bisection of the monotonic rise between n and b
            middle = 0.5 * (a + b)
            a, b = (middle, b) if rise(middle) < 0 else (a, middle)
        ends.append(0.5 * (a + b))
    return ends[0], n, ends[1]

