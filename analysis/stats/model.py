"""The statistical model of a shape card, as CMS Combine (v10.6.0) builds it by default.

``text2workspace.py`` turns every card column (channel c, process p) into expected events
per template bin i, y_cpi = coeff_cp(theta, r) h_cpi(theta), and this module computes the
same numbers with numpy:

- coeff: ``r`` for the signals, times exp(sum_k theta_k logkappa_k(theta_k)) over the lnN
  (ProcessNormalization) and the normalisation effects of the shape nuisances (AsymPow, with
  kappa = Up or Down integral / nominal integral, left out where both are within 1e-3 of 1).
  logkappa is log(kup) above theta = 0.5, -log(kdown) below -0.5, and in between their mean
  plus half their difference times the smooth step h(2 theta), h(x) = (3x^5 - 10x^3 + 15x)/8;
  a symmetric lnN is kappa^theta.
- h: vertical template morphing (CMSHistFunc, "QuadLinear"): h = T + sum_k theta_k/2 (Up_k -
  Down_k + (Up_k + Down_k - 2 T) s(theta_k)), s(x) = h(x) inside |x| < 1 and sign(x) outside
  (quadratic-like inside, linear outside), cropped at 1e-9. With autoMCStats in the channel
  ("hist-mode 1") T is the template and Up/Down are scaled to its integral, without it every
  template is normalised to 1, the morphed one renormalised after the crop, and coeff carries
  the rate.
- autoMCStats (CMSHistErrorPropagator.setupBinPars, Barlow-Beeston-lite), decided once from
  the nominal templates (every coeff 1, r = 1): per bin, the effective number of MC events of
  the processes (signals only with the include-signal flag), round((sum T)^2 / sum E^2).
  Above the event threshold the bin gets one Gaussian parameter x that adds x times the total
  error sqrt(sum_p (coeff_p E_p)^2), summed over every process, signals included. At or below
  it, each process (signals included) with a non-zero error gets its own parameter: where
  T >= 0.999 E and round(T^2/E^2) <= threshold a Poisson-constrained one (the process' events
  times v/n with n = round(T^2/E^2) and constraint Poisson(n | v)), else a Gaussian one adding
  x coeff E.
  The bin's total is cropped at 1e-9.

The nuisances theta have unit Gaussian constraints, lnN within [-7, 7] and shape ones within
[-4, 4], as Combine's; its Gaussian MC-statistics parameters lie within [-7, 7], the Poisson
ones within +-7 sigma of n.
"""

from dataclasses import dataclass

import numpy as np

from analysis.engine.root_setup import import_root
from analysis.errors import TmetError
from analysis.stats.cards import parse_datacard, shapes_files
from config.shifts import MC_STATISTICS

CROP = 1e-9  # Combine's floor of every morphed template bin and of every bin's total
KAPPA_IGNORED = 1e-3  # a shape's normalisation effect with both kappas this close to 1 is dropped
RATE_MISMATCH = 0.01  # largest relative difference of a card's rate from its template's integral
POISSON_VIABLE = 0.999  # a process' MC error at most content / this allows a Poisson parameter
BB_SIGMAS = 7.0  # range of the MC-statistics parameters, in standard deviations
THETA_RANGE = {"lnN": 7.0, "shape": 4.0}  # |theta| bounds of the nuisances
POISSON, GAUSSIAN = 0, 1  # kinds of MC-statistics parameter


@dataclass(frozen=True)
class Model:
    """A card's model as arrays. Cells are (column, template bin) pairs; bins are the card's
    template bins of all channels in a row; terms are the MC-statistics parameters."""

    bins: list  # [(channel, template bin index)]
    data: np.ndarray  # observed events per bin
    nuisances: list  # names of theta, lnN first, then shape nuisances, in card order
    theta_max: np.ndarray  # |theta| bound per nuisance
    column_names: list  # [(channel, process)]
    column_signal: np.ndarray  # bool per column: scaled by r
    column_rate: np.ndarray  # coeff at theta = 0, r = 1 (1 with autoMCStats, else the rate)
    column_normalised: np.ndarray  # bool per column: its morphed template is renormalised to 1
    kappa_low: np.ndarray  # log(kdown) per (nuisance, column), 0 where the nuisance has no effect
    kappa_high: np.ndarray  # log(kup) per (nuisance, column)
    cell_bin: np.ndarray  # bin of each cell
    cell_column: np.ndarray  # column of each cell
    nominal: np.ndarray  # T per cell
    error: np.ndarray  # MC error E per cell
    morph_sum: np.ndarray  # Up + Down - 2 T per (shape nuisance, cell)
    morph_diff: np.ndarray  # Up - Down per (shape nuisance, cell)
    shape_index: np.ndarray  # index in ``nuisances`` of each shape nuisance
    term_kind: np.ndarray  # POISSON or GAUSSIAN per MC-statistics parameter
    term_bin: np.ndarray  # bin of each term
    term_cell: np.ndarray  # cell of a per-process term, -1 for a bin's total
    term_events: np.ndarray  # n of a Poisson term (1 for Gaussian ones)
    term_nominal: np.ndarray  # nominal value (its global observable): n, or 0
    term_low: np.ndarray  # range of each term
    term_high: np.ndarray
    term_names: list  # Combine's name of each term: prop_bin<channel>_bin<i>[_<process>]
    total_bins: np.ndarray  # bool per bin: the bin has a total (Gaussian) term
    groups: dict  # {group: [parameters]}: the card's groups, then Combine's autoMCStats (the terms)

    @property
    def poisson_cell(self):
        """bool per cell: its events enter the bin through a Poisson term."""
        flags = np.zeros(len(self.nominal), bool)
        flags[self.term_cell[(self.term_kind == POISSON)]] = True
        return flags


def smooth_step(x):
    """Combine's h(x) = (3x^5 - 10x^3 + 15x)/8 (h(+-1) = +-1, h' and h'' zero there)."""
    return 0.125 * x * (x * x * (3 * x * x - 10) + 15)


def smooth_step_slope(x):
    """h'(x)."""
    return 0.125 * 15 * (x * x - 1) ** 2


@dataclass
class Yields:
    """Events of every cell at (theta, r) with what the gradient needs."""

    coeff: np.ndarray  # per column, r included
    unit: np.ndarray  # per column, coeff without r
    shape: np.ndarray  # h per cell (normalised where the column is)
    events: np.ndarray  # y = coeff h per cell
    dlog_coeff: np.ndarray  # d log coeff / d theta_k per (nuisance, column)
    dshape: np.ndarray  # d h / d theta_s per (shape nuisance, cell)
    raw: np.ndarray  # the morphed template per cell before its crop (and before a renormalisation)
    draw: np.ndarray  # d raw / d theta_s per (shape nuisance, cell)


def yields(model, theta, r):
    """Yields of ``model`` at nuisances ``theta`` and signal strength ``r``."""
    t = theta[:, None]
    inside = np.abs(t) < 0.5
    mean, half = 0.5 * (model.kappa_high - model.kappa_low), 0.5 * (model.kappa_high + model.kappa_low)
    log_kappa = np.where(inside, mean + half * smooth_step(2 * t), np.where(t >= 0, model.kappa_high, -model.kappa_low))
    dlog_kappa = np.where(inside, 2 * half * smooth_step_slope(2 * t), 0.0)
    unit = model.column_rate * np.exp(np.sum(t * log_kappa, axis=0))
    coeff = np.where(model.column_signal, r * unit, unit)
    s = theta[model.shape_index][:, None]
    step = np.where(np.abs(s) < 1, smooth_step(s), np.sign(s))
    step_slope = np.where(np.abs(s) < 1, smooth_step_slope(s), 0.0)
    raw = model.nominal + np.sum(0.5 * s * (model.morph_diff + step * model.morph_sum), axis=0)
    kept = raw > CROP
    shape = np.where(kept, raw, CROP)
    draw = 0.5 * (model.morph_diff + model.morph_sum * (step + s * step_slope))
    dshape = np.where(kept, draw, 0.0)
    if model.column_normalised.any():
        n_columns, column = len(coeff), model.cell_column
        norm = np.bincount(column, shape, n_columns)[column]
        dnorm = np.array([np.bincount(column, d, n_columns)[column] for d in dshape]).reshape(dshape.shape)
        normalised = model.column_normalised[column]
        shape, dshape = (np.where(normalised, shape / norm, shape),
                         np.where(normalised, (dshape - shape / norm * dnorm) / norm, dshape))
    return Yields(coeff, unit, shape, coeff[model.cell_column] * shape, log_kappa + t * dlog_kappa, dshape, raw, draw)


def card_model(path, signal=None):
    """The Model of the card at ``path``; ``r`` scales its signals (process index <= 0), or
    only ``signal``, the other signals then left out (a limit is on one hypothesis)."""
    card = parse_datacard(path)
    signals = {p for _, p, i in card["columns"] if i <= 0}
    if signal is not None and signal not in signals:
        raise TmetError(f"'{signal}' is not a signal of {card['path']}; its signals: {', '.join(sorted(signals))}")
    columns = [(b, p, i <= 0) for b, p, i in card["columns"]
               if (i > 0 or signal in (None, p)) and card["rates"][(b, p)] != 0]
    nuisances = list(card["lnN"]) + list(card["shape"])
    with shapes_files(card) as read:
        data = {b: read(b, "data_obs")[0] for b in card["bins"]}
        cells = [_column_templates(card, read, b, p) for b, p, _ in columns]
    # as text2workspace.py, a process of no expected events in a channel (rate -1 and an empty
    # template, e.g. a signal that selects nothing there) is left out of it
    kept = [k for k, ((b, p, _), (nominal, _, _)) in enumerate(zip(columns, cells))
            if card["rates"][(b, p)] > 0 or nominal.sum() != 0]
    columns, cells = [columns[k] for k in kept], [cells[k] for k in kept]
    offsets = np.cumsum([0] + [len(data[b]) for b in card["bins"]])
    first_bin = dict(zip(card["bins"], offsets))
    for (b, p, _), (nominal, *_rest) in zip(columns, cells):
        if len(nominal) != len(data[b]):
            raise TmetError(f"datacard {card['path']}: {p} in {b} has {len(nominal)} bins, data_obs {len(data[b])}")
    kappas = np.zeros((2, len(nuisances), len(columns)))
    for k, name in enumerate(card["lnN"]):
        for c, (b, p, _) in enumerate(columns):
            kappas[:, k, c] = np.log(card["lnN"][name].get((b, p), (1.0, 1.0)))
    n_cells = sum(len(nominal) for nominal, *_ in cells)
    morph = np.zeros((2, len(card["shape"]), n_cells))
    start = 0
    for c, ((b, p, _), (nominal, _, shifted)) in enumerate(zip(columns, cells)):
        size = len(nominal)
        for s, name in enumerate(card["shape"]):
            if (b, p) in card["shape"][name]:
                up, down = shifted[name]
                kappas[:, len(card["lnN"]) + s, c] = _shape_kappas(card, b, p, name, nominal, up, down)
                if b in card["autoMCStats"]:  # Up and Down scaled to the nominal integral
                    base, up, down = nominal, *(v * nominal.sum() / v.sum() if v.sum() > 0 else v for v in (up, down))
                else:  # all three normalised to 1
                    base, up, down = nominal / nominal.sum(), up / up.sum(), down / down.sum()
                morph[:, s, start:start + size] = up + down - 2 * base, up - down
        start += size
    column_normalised = np.array([b not in card["autoMCStats"] for b, _, _ in columns])
    rates = [_rate(card, b, p, t) for (b, p, _), (t, _, _) in zip(columns, cells)]
    for (b, p, _), (t, _, _), norm in zip(columns, cells, column_normalised):
        if norm and not t.sum() > 0:  # its shape would be undefined
            raise TmetError(f"datacard {card['path']}: {p} in {b} has an empty template (and no autoMCStats)")
    nominal = np.concatenate([t / t.sum() if norm else t for (t, _, _), norm in zip(cells, column_normalised)])
    model = dict(
        bins=[(b, i) for b in card["bins"] for i in range(len(data[b]))],
        data=np.concatenate([data[b] for b in card["bins"]]),
        nuisances=nuisances,
        theta_max=np.array([THETA_RANGE["lnN"]] * len(card["lnN"]) + [THETA_RANGE["shape"]] * len(card["shape"])),
        column_names=[(b, p) for b, p, _ in columns],
        column_signal=np.array([s for _, _, s in columns], bool),
        column_rate=np.where(column_normalised, rates, 1.0),
        column_normalised=column_normalised,
        kappa_low=kappas[0], kappa_high=kappas[1],
        cell_bin=np.concatenate([first_bin[b] + np.arange(len(t)) for (b, _, _), (t, _, _) in zip(columns, cells)]),
        cell_column=np.concatenate([np.full(len(t), c) for c, (t, _, _) in enumerate(cells)]),
        nominal=nominal,
        error=np.concatenate([e for _, e, _ in cells]),
        morph_sum=morph[0], morph_diff=morph[1],
        shape_index=np.arange(len(card["lnN"]), len(nuisances)),
    )
    terms = _mc_statistics_terms(card, model)
    groups = {**card["groups"], **({MC_STATISTICS: list(terms["term_names"])} if terms["term_names"] else {})}
    return Model(**model, **terms, groups=groups)


def _column_templates(card, read, bin_, process):
    """(nominal, errors, {shape nuisance: (up, down)}) of one column."""
    nominal, errors = read(bin_, process)
    shifted = {name: (read(bin_, process, name + "Up")[0], read(bin_, process, name + "Down")[0])
               for name, columns in card["shape"].items() if (bin_, process) in columns}
    return nominal, errors, shifted


def _rate(card, bin_, process, template):
    """The rate of a column: the card's, or the template's integral where the card says -1.
    Like text2workspace.py, a rate more than 1 % (of at least 1) from the integral is an error."""
    rate = card["rates"][(bin_, process)]
    if rate >= 0 and abs(rate - template.sum()) > RATE_MISMATCH * max(1.0, rate):
        raise TmetError(f"datacard {card['path']}: rate {rate:g} of {process} in {bin_} is not its template's "
                        f"integral {template.sum():g}")
    return template.sum() if rate < 0 else rate


def _shape_kappas(card, bin_, process, name, nominal, up, down):
    """(log kdown, log kup) of a shape nuisance's normalisation effect, (0, 0) where Combine drops it."""
    norm = nominal.sum()
    if not (norm > 0 and up.sum() > 0 and down.sum() > 0):
        raise TmetError(f"{card['path']}: {process} in {bin_} has an empty nominal, {name}Up or {name}Down template")
    kappa_down, kappa_up = down.sum() / norm, up.sum() / norm
    if abs(kappa_up - 1) < KAPPA_IGNORED and abs(kappa_down - 1) < KAPPA_IGNORED:
        return 0.0, 0.0
    return np.log(kappa_down), np.log(kappa_up)


def _mc_statistics_terms(card, model):
    """The autoMCStats parameters (the term_* fields and total_bins of Model), chosen from the
    nominal templates as CMSHistErrorPropagator.setupBinPars does."""
    ROOT = import_root()
    tail = ROOT.Math.normal_cdf_c(BB_SIGMAS)
    terms = []  # (kind, bin, cell, events, low, high)
    total_bins = np.zeros(len(model["bins"]), bool)
    nominal, error = np.maximum(model["nominal"], CROP), model["error"]
    for channel, (threshold, include_signal) in card["autoMCStats"].items():
        if threshold < 0:
            continue
        for global_bin in (g for g, (b, _) in enumerate(model["bins"]) if b == channel):
            cells = np.flatnonzero(model["cell_bin"] == global_bin)
            counted = [j for j in cells if include_signal or not model["column_signal"][model["cell_column"][j]]]
            error2 = np.sum(error[counted] ** 2)
            if error2 <= 0:
                continue
            if np.floor(0.5 + np.sum(nominal[counted]) ** 2 / error2) > threshold:
                total_bins[global_bin] = np.sum(error[cells] ** 2) > 0
                if total_bins[global_bin]:
                    terms.append((GAUSSIAN, global_bin, -1, 1.0, -BB_SIGMAS, BB_SIGMAS))
                continue
            for j in cells:
                value, err = nominal[j], error[j]
                if err <= 0:
                    continue
                events = np.floor(0.5 + value ** 2 / err ** 2)
                if value >= POISSON_VIABLE * err and events <= threshold:
                    low = 0.5 * ROOT.Math.chisquared_quantile(tail, 2 * events)
                    high = 0.5 * ROOT.Math.chisquared_quantile(1 - tail, 2 * events + 2)
                    terms.append((POISSON, global_bin, j, events, low, high))
                else:
                    terms.append((GAUSSIAN, global_bin, j, 1.0, -BB_SIGMAS, BB_SIGMAS))
    kind, bin_, cell, events, low, high = (np.array(v) for v in zip(*terms)) if terms else [np.zeros(0)] * 6
    kind, bin_, cell = (np.asarray(v, int) for v in (kind, bin_, cell))
    names = [f"prop_bin{model['bins'][b][0]}_bin{model['bins'][b][1]}"
             + ("" if c < 0 else f"_{model['column_names'][model['cell_column'][c]][1]}") for b, c in zip(bin_, cell)]
    return dict(term_kind=kind, term_bin=bin_, term_cell=cell, term_events=np.asarray(events, float),
                term_nominal=np.where(kind == POISSON, events, 0.0), term_low=np.asarray(low, float),
                term_high=np.asarray(high, float), term_names=names, total_bins=total_bins)
