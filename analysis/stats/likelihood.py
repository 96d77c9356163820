"""The negative log-likelihood of a Model (analysis/stats/model.py) and its minimisation.

NLL = sum over bins of (nu - n log nu) + the constraints: (theta - theta0)^2 / 2 per
nuisance, (x - x0)^2 / 2 per Gaussian MC-statistics parameter, v - n0 log v per Poisson one
(the zero-points n0, theta0, x0 are the global observables: nominal for data, fitted ones for
Combine's a-posteriori Asimov data). It is written relative to its saturated value, so that
differences keep their precision.

The MC-statistics parameters of a bin enter only that bin, linearly: they are profiled
exactly, bin by bin, as Combine does analytically for its one-parameter bins. With
s = 1 - n/nu, each parameter's optimum is closed-form in s (v = n0/(1 + w s) or
x = x0 - w s, within its range), and nu solves nu = raw(1 - n/nu), one monotonic equation per
bin, solved by bracketed Newton steps (to the crop at 1e-9 where a bin without data would fall
below it). The remaining parameters (r, theta) are fitted with Minuit2's Migrad, given the
exact gradient: the profiled parameters add nothing to it (envelope theorem).
"""

from dataclasses import dataclass

import numpy as np

from analysis.engine.root_setup import import_root
from analysis.errors import TmetError
from analysis.stats.model import CROP, POISSON, yields

TOLERANCE = 1e-3  # Migrad's: the fit stops at an estimated distance to the minimum of 1e-6 in NLL
THETA_STEP = 0.1  # Migrad's first step of a nuisance
R_START = 0.1  # where the first fit with r free starts
MIRROR_MIN = 0.05  # |theta| of a shape nuisance above which its mirror image is tried
MIRROR_GAIN = 1e-6  # NLL by which a mirror image's minimum must be lower to be taken
NEWTON_STEPS = 200  # cap of the per-bin Newton iterations (they converge in a handful)
ROOT_PRECISION = 1e-12  # relative precision of the per-bin roots
MINUIT_CALLS = 100000  # cap of the NLL evaluations of one fit
# restarts of Migrad from where every strategy stopped short ("EDM above max"), and the NLL
# gain below which a restart counts as no progress (the minimum then stands)
RESTARTS = 10
NO_PROGRESS = 1e-6
HESSE_STEP = 1e-4  # the Hessian's finite-difference step, in units of each parameter's scale


@dataclass
class Profile:
    """The bins' events and the MC-statistics parameters at their optimum for given yields."""

    events: np.ndarray  # nu per bin
    slope: np.ndarray  # d NLL / d nu per bin at the optimum (the multiplier of the envelope gradient)
    terms: np.ndarray  # value of each MC-statistics parameter
    weights: np.ndarray  # its effect: events added per unit (Poisson: per unit of v)
    totals: np.ndarray  # total MC error per bin (where the bin has a total term)


def term_weights(model, y):
    """(weight per term, total MC error per bin): events per unit of each parameter."""
    error = y.coeff[model.cell_column] * model.error
    total = np.sqrt(np.bincount(model.cell_bin, error ** 2, len(model.data)))
    per_cell = np.where(model.term_kind == POISSON, y.events[model.term_cell] / model.term_events,
                        error[model.term_cell])
    return np.where(model.term_cell < 0, total[model.term_bin], per_cell), total


def profile(model, y, data, globals_, start=None, held=None):
    """Profile of the MC-statistics parameters for yields ``y``, ``data`` per bin and their
    zero-points ``globals_``; ``start``: events per bin to start the Newton steps from;
    ``held``: (mask, values) of parameters held at given values (an impact's, a scan's)."""
    weight, total = term_weights(model, y)
    fixed = np.bincount(model.cell_bin, np.where(model.poisson_cell, 0.0, y.events), len(data))
    n_bins, term_bin, poisson = len(data), model.term_bin, model.term_kind == POISSON
    low, high = model.term_low, model.term_high

    def terms_at(s):
        """Each parameter's optimum at the bins' slopes s, and its derivative."""
        st = s[term_bin]
        denominator = 1 + weight * st
        positive = np.where(denominator > 0, denominator, 1.0)
        value = np.where(poisson, np.where(denominator > 0, globals_ / positive, high), globals_ - weight * st)
        free = (value > low) & (value < high)
        slope = np.where(free, np.where(poisson, -value * weight / positive, -weight), 0.0)
        if held is not None:
            return np.where(held[0], held[1], np.clip(value, low, high)), np.where(held[0], 0.0, slope)
        return np.clip(value, low, high), slope

    def raw(s):
        value, slope = terms_at(s)
        return (fixed + np.bincount(term_bin, weight * value, n_bins),
                np.bincount(term_bin, weight * slope, n_bins))

    has_terms = np.bincount(term_bin, minlength=n_bins) > 0
    events = np.maximum(fixed, CROP)
    slope = np.where(fixed > CROP, 1 - data / events, 0.0)
    if has_terms.any():
        raw0 = raw(np.zeros(n_bins))[0]
        filled = has_terms & (data > 0)
        low_nu = np.where(raw0 > 0, np.minimum(data, raw0), 1e-12 * data)
        high_nu = np.maximum(data, raw0)

        def balance(nu):  # raw(1 - n/nu) - nu, decreasing in nu
            s = 1 - data / nu
            value, dvalue = raw(s)
            return value - nu, dvalue * data / nu ** 2 - 1

        guess = np.clip(start if start is not None else data, low_nu, high_nu)
        nu = _bracketed_newton(balance, np.where(filled, low_nu, 1.0), np.where(filled, high_nu, 1.0),
                               np.where(filled, guess, 1.0))
        s = np.where(filled, 1 - data / np.where(filled, nu, 1), 1.0)
        empty = has_terms & (data <= 0)
        below = empty & (raw(s)[0] < CROP)  # a bin without data whose total would fall below the crop
        if below.any():
            def above_crop(x):  # raw(s) - crop, decreasing in s
                value, dvalue = raw(x)
                return value - CROP, dvalue
            s_low = np.where(raw0 >= CROP, 0.0, -1e12)
            s = np.where(below, _bracketed_newton(above_crop, np.where(below, s_low, 0), below.astype(float),
                                                  np.where(below, 0.5 * s_low + 0.5, 0)), s)
        events = np.where(has_terms, np.maximum(raw(s)[0], CROP), events)
        events = np.where(filled, nu, events)
        slope = np.where(has_terms, s, slope)
        value = terms_at(s)[0]
    else:
        value = np.zeros(0)
    return Profile(events, slope, value, weight, total)


def _bracketed_newton(function, low, high, x):
    """Roots of a decreasing ``function`` (returning value and slope) per element, kept
    within [low, high] (where it changes sign): Newton steps, halving the bracket where one
    would leave it or would not halve the last step (a function that is piecewise, as a bin's
    balance where its parameters reach their range, can make Newton steps cycle)."""
    last = high - low
    for _ in range(NEWTON_STEPS):
        value, slope = function(x)
        low, high = np.where(value > 0, x, low), np.where(value > 0, high, x)
        newton = x - value / np.where(slope < 0, slope, -1.0)
        inside = (newton > low) & (newton < high) & (np.abs(newton - x) < 0.5 * np.abs(last))
        step = np.where((value == 0) | inside, newton, 0.5 * (low + high))
        if np.all(np.abs(step - x) <= ROOT_PRECISION * np.maximum(np.abs(x), 1e-300)):
            return step
        last, x = step - x, step
    return x


def profile_at(model, y, data, terms):
    """The Profile of yields ``y`` with the MC-statistics parameters at ``terms`` (not at their
    optimum): what the NLL and its partial derivatives over every parameter take."""
    weight, total = term_weights(model, y)
    fixed = np.bincount(model.cell_bin, np.where(model.poisson_cell, 0.0, y.events), len(data))
    raw = fixed + np.bincount(model.term_bin, weight * terms, len(data))
    events = np.maximum(raw, CROP)
    return Profile(events, np.where(raw > CROP, 1 - data / events, 0.0), terms, weight, total)


def nll_value(model, data, globals_, theta, theta0, p):
    """NLL (relative to the saturated one) of a Profile ``p`` at ``theta``."""
    nu, n = p.events, data
    value = np.sum(nu - n + np.where(n > 0, n * np.log(np.where(n > 0, n, 1) / nu), 0.0))
    poisson = model.term_kind == POISSON
    v, v0 = p.terms, globals_
    value += np.sum(np.where(poisson, v - v0 + v0 * np.log(np.where(poisson, v0, 1) / np.where(poisson, v, 1)),
                             0.5 * (v - v0) ** 2))
    return value + 0.5 * np.sum((theta - theta0) ** 2)


def nll_gradient(model, y, p, theta, theta0, r):
    """(d NLL / d theta, d NLL / d r) at a Profile ``p`` of yields ``y``."""
    poisson_term = model.term_kind == POISSON
    multiplier = np.ones(len(y.events))
    cells = model.term_cell[poisson_term]
    multiplier[cells] = p.terms[poisson_term] / model.term_events[poisson_term]
    per_cell = p.slope[model.cell_bin] * multiplier  # d NLL / d y per cell
    column = model.cell_column
    n_columns = len(y.coeff)
    # d NLL / d coeff * coeff / r-free: every place a column's coeff enters, with one coeff -> unit
    unit_cell = y.unit[column]
    through_coeff = np.bincount(column, per_cell * unit_cell * y.shape, n_columns)
    per_process = (model.term_cell >= 0) & ~poisson_term
    term_cells = model.term_cell[per_process]
    through_coeff += np.bincount(column[term_cells], (p.slope[model.term_bin] * p.terms)[per_process]
                                 * unit_cell[term_cells] * model.error[term_cells], n_columns)
    total_term = model.term_cell < 0
    total_x = np.zeros(len(p.events))
    total_x[model.term_bin[total_term]] = (p.slope[model.term_bin] * p.terms)[total_term]
    safe_total = np.where(p.totals > 0, p.totals, 1.0)
    through_coeff += np.bincount(column, (total_x / safe_total)[model.cell_bin] * y.coeff[column] * unit_cell
                                 * model.error ** 2, n_columns)
    d_r = np.sum(through_coeff[model.column_signal])
    d_theta = y.dlog_coeff @ (through_coeff * np.where(model.column_signal, r, 1.0))
    d_theta[model.shape_index] += y.dshape @ (per_cell * y.coeff[column])
    return d_theta + (theta - theta0), d_r


@dataclass
class Minimum:
    """Where a fit ended."""

    nll: float
    theta: np.ndarray
    r: float
    profile: Profile


class Fit:
    """Minuit2 fits of (theta, r) to one dataset and its global observables (zero-points
    ``theta0`` of the nuisances, ``terms0`` of the MC-statistics parameters), the
    MC-statistics parameters profiled. Each fit starts where the previous one ended."""

    def __init__(self, model, data, theta0=None, terms0=None):
        self.model, self.data = model, np.asarray(data, float)
        self.theta0 = np.zeros(len(model.nuisances)) if theta0 is None else theta0
        self.terms0 = model.term_nominal if terms0 is None else terms0
        self.theta, self.r = self.theta0.copy(), R_START
        self.events = None  # the last profile's events per bin, where the next one starts
        # held fixed in the fits (minimum's ``fixed``): {nuisance: value}, and (mask, values)
        # of the MC-statistics parameters or None
        self.held, self.held_terms = {}, None

    def evaluate(self, theta, r):
        """(NLL, d NLL / d theta, d NLL / d r, Profile) at (theta, r)."""
        y = yields(self.model, theta, r)
        p = profile(self.model, y, self.data, self.terms0, self.events, self.held_terms)
        self.events = p.events
        d_theta, d_r = nll_gradient(self.model, y, p, theta, self.theta0, r)
        return nll_value(self.model, self.data, self.terms0, theta, self.theta0, p), d_theta, d_r, p

    def _hold(self, fixed):
        """Hold the parameters of ``fixed`` ({name: value}) in the next fits."""
        self.held = {name: value for name, value in fixed.items() if name in self.model.nuisances}
        terms = {self.model.term_names.index(name): value for name, value in fixed.items()
                 if name not in self.model.nuisances}
        self.held_terms = None
        if terms:
            mask, values = np.zeros(len(self.model.term_names), bool), np.zeros(len(self.model.term_names))
            mask[list(terms)], values[list(terms)] = True, list(terms.values())
            self.held_terms = mask, values

    def minimum(self, r=None, search=False, fixed=None):
        """The Minimum at fixed ``r``, or with r >= 0 free (``r`` None), with the parameters of
        ``fixed`` ({name of a nuisance or an MC-statistics parameter: value}) held there.
        ``search``: also start from each shape nuisance's mirror image (theta_k -> -theta_k)
        and keep the lowest minimum, until none is lower: the smooth-step morphing makes a
        shape whose Up and Down move the same way (nearly) even in theta, with a minimum on
        either side."""
        unknown = set(fixed or {}) - set(self.model.nuisances) - set(self.model.term_names)
        if unknown:
            raise TmetError(f"no parameter {', '.join(sorted(unknown))} in the card's model")
        self._hold(fixed or {})
        self.events = None
        try:
            best = self._migrad(r, self.theta)
            while search:
                search = False
                for k in self.model.shape_index[np.abs(best.theta[self.model.shape_index]) > MIRROR_MIN]:
                    start = best.theta.copy()
                    start[k] = -start[k]
                    trial = self._migrad(r, start)
                    if trial.nll < best.nll - MIRROR_GAIN:
                        best, search = trial, True
            self.theta, self.r = best.theta, (max(best.r, R_START * 1e-2) if r is None else self.r)
            self.evaluate(best.theta, best.r)  # the next profile starts from this one
        finally:
            self._hold({})
        return best

    def gradient(self, theta, r, terms):
        """d NLL / d (r, theta, MC-statistics parameters) at those values (the latter not
        profiled): the partial derivatives a Hessian is made of."""
        y = yields(self.model, theta, r)
        p = profile_at(self.model, y, self.data, terms)
        d_theta, d_r = nll_gradient(self.model, y, p, theta, self.theta0, r)
        poisson = self.model.term_kind == POISSON
        constraint = np.where(poisson, 1 - self.terms0 / np.where(poisson, terms, 1.0), terms - self.terms0)
        return np.concatenate([[d_r], d_theta, p.slope[self.model.term_bin] * p.weights + constraint])

    def hessian(self, minimum):
        """The Hessian of the NLL over (r, theta, MC-statistics parameters) at a Minimum: the
        central differences of the exact gradient, one step per parameter (HESSE_STEP of its
        scale). Its inverse is the covariance of every parameter (the profiled ones included,
        whose errors Combine's Hesse gives where it fits them)."""
        point = np.concatenate([[minimum.r], minimum.theta, minimum.profile.terms])
        n_theta = len(minimum.theta)
        poisson = self.model.term_kind == POISSON
        scale = np.concatenate([[max(abs(minimum.r), 0.01)], np.ones(n_theta),
                                np.where(poisson, np.sqrt(np.maximum(self.model.term_events, 1.0)), 1.0)])
        steps = HESSE_STEP * scale
        columns = []
        for k, step in enumerate(steps):
            up, down = point.copy(), point.copy()
            up[k] += step
            down[k] -= step
            columns.append((self._gradient_at(up, n_theta) - self._gradient_at(down, n_theta)) / (2 * step))
        matrix = np.array(columns)
        return 0.5 * (matrix + matrix.T)

    def _gradient_at(self, point, n_theta):
        return self.gradient(point[1:1 + n_theta], point[0], point[1 + n_theta:])

    def _migrad(self, r, theta):
        """Migrad from ``theta`` (and the last free r), strategy 0, then 1 and 2 if it fails.

        Where every strategy stops short of its distance-to-minimum target ("EDM above max",
        Minuit2 status 3), Migrad restarts from the lowest stop until a restart converges or
        lowers the NLL by less than NO_PROGRESS. A template morphed to its crop (1e-9) puts a
        kink in the NLL, and a minimum on the kink stops every fit so: the NLL cannot fall
        further, which is what the restarts check. Combine takes where its fit stops, whatever
        the status."""
        free_r = r is None
        n = len(theta) + free_r
        if n == 0:
            value, _, _, p = self.evaluate(theta, r)
            return Minimum(value, theta, r, p)

        def split(x):
            x = np.frombuffer(x, dtype=np.float64, count=n)
            return x[:len(theta)].copy(), (float(x[-1]) if free_r else r)

        cache = {}

        def compute(x):
            point = split(x)
            key = (point[0].tobytes(), point[1])
            if key not in cache:
                cache.clear()
                value, d_theta, d_r, _ = self.evaluate(*point)
                cache[key] = value, np.append(d_theta, d_r) if free_r else d_theta
            return cache[key]

        def value(x):
            return compute(x)[0]

        def gradient(x, out):
            np.frombuffer(out, dtype=np.float64, count=n)[:] = compute(x)[1]

        ROOT = import_root()
        functor = ROOT.Math.GradFunctor(value, n, gradient)  # holds value and gradient while they exist

        def migrad(strategy, start_theta, start_r):
            """(Minuit2 status, NLL, (theta, r)) of one Migrad from (start_theta, start_r)."""
            minimizer = ROOT.Math.Factory.CreateMinimizer("Minuit2", "Migrad")
            minimizer.SetFunction(functor)
            for k, (name, bound) in enumerate(zip(self.model.nuisances, self.model.theta_max)):
                if name in self.held:
                    minimizer.SetFixedVariable(k, name, float(self.held[name]))
                    continue
                minimizer.SetLimitedVariable(k, name, float(np.clip(start_theta[k], -bound, bound)), THETA_STEP,
                                             -float(bound), float(bound))
            if free_r:
                minimizer.SetLowerLimitedVariable(n - 1, "r", start_r, 0.1 * self.r, 0.0)
            minimizer.SetErrorDef(0.5)
            minimizer.SetTolerance(TOLERANCE)
            minimizer.SetStrategy(strategy)
            minimizer.SetPrintLevel(-1)
            minimizer.SetMaxFunctionCalls(MINUIT_CALLS)
            minimizer.Minimize()
            return minimizer.Status(), minimizer.MinValue(), split(minimizer.X())

        stops = []
        for strategy in (0, 1, 2):
            status, nll, point = migrad(strategy, theta, self.r)
            if status in (0, 1):
                break
            if status == 3:
                stops.append((nll, point))
        else:
            point = self._restart(migrad, stops, status, "free" if free_r else r)
        value, _, _, p = self.evaluate(*point)
        return Minimum(value, point[0], point[1], p)

    @staticmethod
    def _restart(migrad, stops, status, r):
        """The point where the restarts from the lowest of ``stops`` (NLL, point) end (see
        _migrad); a TmetError where they do not."""
        if len(stops) == 3:
            best = min(stops, key=lambda stop: stop[0])
            for _ in range(RESTARTS):
                status, nll, point = migrad(2, *best[1])
                if status in (0, 1):
                    return point
                if status != 3:
                    break
                if best[0] - nll < NO_PROGRESS:
                    return min(best, (nll, point), key=lambda stop: stop[0])[1]
                best = min(best, (nll, point), key=lambda stop: stop[0])
        raise TmetError(f"the fit of the card's model did not converge (Minuit2 status {status}, r = {r})")
