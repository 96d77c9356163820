"""Fit diagnostics of a card, as Combine's ``-M FitDiagnostics --saveShapes
--saveWithUncertainties`` makes them, on the card's model (analysis/stats/fits.py):

- the background-only fit (r = 0) and the signal-plus-background fit (r >= 0 free), each
  with every parameter's value and Hesse error, and its NLL (relative to the saturated
  model, analysis/stats/likelihood.py);
- r's errors from the profile likelihood (Combine's ``-M MultiDimFit --algo singles``);
- the yields of every process and of the background sum per category, and per bin for the
  figures, before the fit (every parameter at its nominal value, r = 1) and after each fit,
  with errors propagated linearly from the covariance (before the fit: the unit priors of
  the parameters). As Combine's, each process's yield holds the MC-statistics parameters of
  its bins (cell_events);
- the kinks of each fit's minimum: a template bin morphed exactly to its crop (1e-9) makes
  the NLL's slope jump there, so that no quadratic approximation holds and Hesse errors
  depend on the step a method takes (Combine's default, tolerance 0.01 and --robustHesse
  differ from one another); ``kinks`` names them, and r's profile-likelihood errors and the
  impacts' intervals stay exact.
"""

import numpy as np

from analysis.stats.fits import POI, fit_data, fit_result, interval
from analysis.stats.likelihood import Fit
from analysis.stats.model import CROP, POISSON, yields

TOTAL_BACKGROUND = "total_background"


def parameters(model, result):
    """{name: {value, error}} of the card's nuisances and MC-statistics parameters of a FitResult."""
    return {name: {"value": result.value(name), "error": result.error(name)}
            for name in result.names if name != POI}


KINK_DISTANCE = 1e-6  # a template bin within this (times its slope) of its crop sits on the kink
JACOBIAN_STEP = 1e-6  # of the yields' derivatives, in units of each parameter's scale


def kinks(model, theta):
    """[{category, process, bin, nuisances}] of the template bins morphed to their crop at
    ``theta``, with the shape nuisances that move them there."""
    y = yields(model, theta, 1.0)
    slope = np.abs(y.draw).sum(axis=0)
    found = []
    for cell in np.flatnonzero(np.abs(y.raw - CROP) < KINK_DISTANCE * np.maximum(slope, 1e-12)):
        channel, process = model.column_names[model.cell_column[cell]]
        moving = [model.nuisances[k] for k, d in zip(model.shape_index, y.draw[:, cell]) if d != 0]
        found.append({"category": channel, "process": process, "bin": int(model.bins[model.cell_bin[cell]][1]),
                      "nuisances": moving})
    return found


def cell_events(model, theta, r, terms):
    """Each process's events per cell at (theta, r, terms), as Combine's FitDiagnostics has
    them (CMSHistErrorPropagator's wrappers): with the MC-statistics parameters of its bin,
    a Poisson one scaling them by v / n, a Gaussian one of the process adding x times its
    error, a bin's total one adding x times the bin's total error in the share of the
    process's squared error."""
    y = yields(model, theta, r)
    error = y.coeff[model.cell_column] * model.error
    error2 = np.bincount(model.cell_bin, error ** 2, len(model.data))
    total = np.sqrt(error2)
    events = y.events.copy()
    own = model.term_cell >= 0
    poisson = own & (model.term_kind == POISSON)
    gaussian = own & ~poisson
    events[model.term_cell[poisson]] *= terms[poisson] / model.term_events[poisson]
    events[model.term_cell[gaussian]] += terms[gaussian] * error[model.term_cell[gaussian]]
    totals = np.zeros(len(model.data))
    totals[model.term_bin[~own]] = terms[~own]
    share = np.where(error2[model.cell_bin] > 0, error ** 2 / np.where(error2 > 0, error2, 1.0)[model.cell_bin], 0.0)
    return events + totals[model.cell_bin] * total[model.cell_bin] * share


def cell_jacobian(model, theta, r, terms):
    """(cell_events, d cell_events / d (r, theta, MC-statistics parameters)), the derivatives
    by central differences (JACOBIAN_STEP)."""
    point = np.concatenate([[r], theta, terms])
    n_theta = len(theta)

    def at(x):
        return cell_events(model, x[1:1 + n_theta], x[0], x[1 + n_theta:])

    rows = []
    for k in range(len(point)):
        step = JACOBIAN_STEP * max(1.0, abs(point[k]))
        up, down = point.copy(), point.copy()
        up[k] += step
        down[k] -= step
        rows.append((at(up) - at(down)) / (2 * step))
    return at(point), np.array(rows)


def grouped(values, jacobian, covariance, groups, n_groups):
    """(sums, errors) of ``values`` (per cell, with their ``jacobian``) summed into ``groups``
    (a group index per cell), the errors from ``covariance`` of the parameters."""
    sums = np.bincount(groups, values, n_groups)
    summed = np.array([np.bincount(groups, row, n_groups) for row in jacobian])
    errors = np.sqrt(np.maximum(np.einsum("ig,ij,jg->g", summed, covariance, summed), 0.0))
    return sums, errors


def prediction(model, theta, r, terms, covariance):
    """{"yields": {category: {process | TOTAL_BACKGROUND: {value, error}}}, "bins": {category:
    {process | TOTAL_BACKGROUND: {"values": [...], "errors": [...]}}}} of the model at (theta,
    r, MC-statistics ``terms``) with the parameters' ``covariance`` over (r, theta, terms)."""
    events, jacobian = cell_jacobian(model, theta, r, terms)
    columns, channels = model.column_names, list(dict.fromkeys(b for b, _ in model.bins))
    background = ~model.column_signal[model.cell_column]
    out = {"yields": {}, "bins": {}}
    # per column, and per channel's background sum
    column_sums = grouped(events, jacobian, covariance, model.cell_column, len(columns))
    channel_of = np.array([channels.index(model.bins[b][0]) for b in model.cell_bin])
    background_sums = grouped(np.where(background, events, 0.0), np.where(background, jacobian, 0.0), covariance,
                              channel_of, len(channels))
    for c, (channel, process) in enumerate(columns):
        out["yields"].setdefault(channel, {})[process] = {"value": float(column_sums[0][c]),
                                                          "error": float(column_sums[1][c])}
    for k, channel in enumerate(channels):
        out["yields"].setdefault(channel, {})[TOTAL_BACKGROUND] = {"value": float(background_sums[0][k]),
                                                                   "error": float(background_sums[1][k])}
    # per bin: of each column, and of the background sum
    per_cell = np.sqrt(np.maximum(np.einsum("ic,ij,jc->c", jacobian, covariance, jacobian), 0.0))
    for c, (channel, process) in enumerate(columns):
        cells = model.cell_column == c
        out["bins"].setdefault(channel, {})[process] = {"values": events[cells].tolist(),
                                                        "errors": per_cell[cells].tolist()}
    bin_sums = grouped(np.where(background, events, 0.0), np.where(background, jacobian, 0.0), covariance,
                       model.cell_bin, len(model.bins))
    for channel in channels:
        bins = [b for b, (name, _) in enumerate(model.bins) if name == channel]
        out["bins"][channel][TOTAL_BACKGROUND] = {"values": bin_sums[0][bins].tolist(),
                                                  "errors": bin_sums[1][bins].tolist()}
    return out


def fit_diagnostics(model, observed):
    """The fit diagnostics of ``model`` (module docstring) on the card's data where
    ``observed``, else on the background-only Asimov data set: {"data", "fit_b", "fit_s",
    "yields", "bins", "correlation"} (see docs/physics.md), and the FitResults."""
    data, kind = fit_data(model, observed)
    n_theta = len(model.nuisances)
    background = fit_result(Fit(model, data), r=0.0)
    fit_s = Fit(model, data)
    signal = fit_result(fit_s)
    low, high = interval(fit_s, signal, POI)
    r = signal.value(POI)
    # before the fit: the constraints' widths (a Poisson MC-statistics parameter's: sqrt(n))
    prior = np.concatenate([[0.0], np.ones(n_theta), np.where(model.term_kind == POISSON, model.term_events, 1.0)])
    prefit = prediction(model, np.zeros(n_theta), 1.0, model.term_nominal, np.diag(prior))
    after = {name: prediction(model, result.minimum.theta, result.minimum.r, result.minimum.profile.terms,
                              result.covariance)
             for name, result in (("fit_b", background), ("fit_s", signal))}
    results = {
        "data": kind,
        "fit_b": {"nll": background.minimum.nll, "nuisances": parameters(model, background),
                  "kinks": kinks(model, background.minimum.theta)},
        "fit_s": {"nll": signal.minimum.nll, "r": {"value": r, "error_down": r - low, "error_up": high - r},
                  "nuisances": parameters(model, signal), "kinks": kinks(model, signal.minimum.theta)},
        "yields": {"prefit": prefit["yields"], **{name: p["yields"] for name, p in after.items()}},
        "bins": {"prefit": prefit["bins"], **{name: p["bins"] for name, p in after.items()}},
    }
    return results, {"fit_b": background, "fit_s": signal}
