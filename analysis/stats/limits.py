"""Asymptotic CLs upper limits on the signal strength ``r`` and the expected significance of a
tmet (Combine-format) shape card, defined as CMS Combine's ``-M AsymptoticLimits`` and
``-M Significance -t -1 --expectSignal 1`` define them, on Combine's model of the card
(analysis/stats/model.py, fitted by analysis/stats/likelihood.py).

- Asimov data ("a-posteriori", Combine's default): the nuisances are fitted to the card's
  data with r = 0; the Asimov data are the expected events there, and the global
  observables (the constraints' zero-points) are set to the fitted values.
- Expected limits: with q_A(r) = 2 (NLL_A(r) - NLL_A(r_A)) on the Asimov data (r_A >= 0 its
  best fit, every other parameter profiled), the band at quantile p (0.025, 0.16, 0.5,
  0.84, 0.975) is the r where sqrt(q_A(r)) = N + Phi^-1(1 - p alpha), N = Phi^-1(p),
  alpha = 1 - CL: the asymptotic formula without assuming q_A is quadratic in r.
- Observed limit: the r where CLs = p_mu / (1 - p_b) = alpha, with q~_mu = 2 (NLL(r) -
  NLL(r_hat)) on the data (r_hat >= 0), p_mu = 1 - Phi(sqrt(q_mu)), 1 - p_b =
  Phi(sqrt(q_A) - sqrt(q_mu)), and for q_mu > q_A p_mu = 1 - Phi((q_mu + q_A) / (2 sqrt(q_A))),
  1 - p_b = 1 - Phi((q_mu - q_A) / (2 sqrt(q_A))).
- Expected significance: sqrt(2 (NLL(0) - NLL(r_hat))) on the nominal Asimov data with r = 1
  (every parameter at its nominal value, as ``-t -1`` generates it).

Each limit is solved to a relative precision of 1e-4 (Combine stops its searches at 0.5 %).
"""

import math
from statistics import NormalDist

import numpy as np

from analysis.errors import TmetError
from analysis.stats.likelihood import Fit
from analysis.stats.model import card_model, yields
from config.processes import card_sets, present_processes

QUANTILES = {"minus2": 0.025, "minus1": 0.16, "expected": 0.5, "plus1": 0.84, "plus2": 0.975}  # Combine's
R_PRECISION = 1e-4  # relative precision of every limit
MAX_STEPS = 60  # evaluations of one crossing before giving up
NORMAL = NormalDist()


def used_config(config):
    """The config values the limits depend on beyond their cards: whether they are observed."""
    return {"observed": observed(config)}


def observed(config):
    """Whether the config's limits include the observed one: it has data, and none of its
    categories is blinded (else the cards' data_obs is the background sum, never data)."""
    return bool(present_processes(config)[2]) and not config.x.blinded_categories


def config_limits(config, cards):
    """{signal: limits_from_card} of every signal of ``config``, each from the combined card
    of its card set (``cards``: {card set: local path of its combined card})."""
    return {signal: limits_from_card(cards[card_set], observed=observed(config), signal=signal)
            for card_set, signals in card_sets(config).items() for signal in signals}


def limits_from_card(card_path, observed=True, signal=None, cl=0.95):
    """{minus2, minus1, expected, plus1, plus2, observed (None unless ``observed``),
    significance} of the card at ``card_path`` (of one ``signal`` of it)."""
    model = card_model(card_path, signal)
    return dict(asymptotic_limits(model, observed, cl), significance=expected_significance(model))


def asymptotic_limits(model, observed=True, cl=0.95):
    """The expected band and (``observed``) the observed CLs upper limit on r at ``cl``."""
    alpha = 1 - cl
    data_fit = Fit(model, model.data)
    background = data_fit.minimum(r=0.0, search=True)
    asimov = Fit(model, background.profile.events, theta0=background.theta, terms0=background.profile.terms)
    asimov_minimum = asimov.minimum().nll

    def q_asimov(r):
        return max(2 * (asimov.minimum(r).nll - asimov_minimum), 0.0)

    median_target = NORMAL.inv_cdf(1 - 0.5 * alpha)
    signal = np.bincount(model.cell_bin, yields(model, background.theta, 1.0).events - yields(
        model, background.theta, 0.0).events, len(model.data))
    information = np.sum(signal ** 2 / background.profile.events)  # q_A ~ r^2 information without nuisances
    if not information > 0:
        raise TmetError("the signal does not change the likelihood: no limit on r")
    scale = _asimov_scale(q_asimov, median_target, median_target / math.sqrt(information))
    limits = {}
    for key, quantile in sorted(QUANTILES.items(), key=lambda item: item[1]):
        target = NORMAL.inv_cdf(quantile) + NORMAL.inv_cdf(1 - quantile * alpha)
        limits[key] = _crossing(lambda r: math.sqrt(q_asimov(r)) - target, scale * target / median_target, key)
    limits = {key: limits[key] for key in QUANTILES}
    if not observed:
        return dict(limits, observed=None)
    best = data_fit.minimum()

    def log_cls(r):
        q_mu = max(2 * (data_fit.minimum(r).nll - best.nll), 0.0) if r > best.r else 0.0
        q_a = q_asimov(r)
        p_mu, one_minus_p_b = 1 - NORMAL.cdf(math.sqrt(q_mu)), NORMAL.cdf(math.sqrt(q_a) - math.sqrt(q_mu))
        if q_mu > q_a > 0:
            p_mu = 1 - NORMAL.cdf((q_mu + q_a) / (2 * math.sqrt(q_a)))
            one_minus_p_b = 1 - NORMAL.cdf((q_mu - q_a) / (2 * math.sqrt(q_a)))
        return math.log(max(p_mu, 1e-300)) - math.log(max(one_minus_p_b, 1e-300))

    limits["observed"] = _crossing(lambda r: math.log(alpha) - log_cls(r), max(limits["expected"], best.r), "observed")
    return limits


def expected_significance(model):
    """Significance of the signal (r = 1) on its nominal Asimov data."""
    theta = np.zeros(len(model.nuisances))
    events = np.maximum(np.bincount(model.cell_bin, yields(model, theta, 1.0).events, len(model.data)), 1e-9)
    fit = Fit(model, events)
    best = fit.minimum().nll
    return math.sqrt(max(2 * (fit.minimum(0.0, search=True).nll - best), 0.0))


def _asimov_scale(q_asimov, target, r):
    """Rough median expected limit, r where sqrt(q_A) = target, assuming sqrt(q_A) ~ r: a start
    for the crossings, refined from ``r`` (the estimate without nuisances, a little low) until
    consistent; the fits thus approach the limits from small r, where the Asimov fit is."""
    for _ in range(MAX_STEPS):
        q = q_asimov(r)
        if q <= 0:
            r *= 10
            continue
        estimate = r * target / math.sqrt(q)
        if abs(estimate / r - 1) < 0.3:
            return estimate
        r = estimate
    raise TmetError(f"no expected limit on r found (last r = {r:.4g})")


def _crossing(function, guess, what):
    """The r > 0 where ``function`` (increasing in r) crosses 0, to R_PRECISION. Secant
    steps from ``guess`` until the crossing is bracketed, then interpolations between the
    bracket's ends; every step aims a little beyond the estimate (R_PRECISION / 2), so that
    an accurate estimate closes the bracket at the next evaluation."""
    low = high = None  # (r, value) below and above the crossing
    r, previous = guess, None
    for _ in range(MAX_STEPS):
        value = function(r)
        if value <= 0 and (low is None or r > low[0]):
            low = (r, value)
        if value >= 0 and (high is None or r < high[0]):
            high = (r, value)
        if low and high:
            if high[0] - low[0] <= R_PRECISION * high[0]:
                return low[0] if high[1] == low[1] else low[0] - low[1] * (high[0] - low[0]) / (high[1] - low[1])
            estimate = low[0] - low[1] * (high[0] - low[0]) / (high[1] - low[1])
            margin = 0.5 * R_PRECISION * estimate
            step = min(max(estimate + (margin if value < 0 else -margin), low[0] + margin), high[0] - margin)
        else:
            direction = 1 if value < 0 else -1
            secant = None if not previous or value == previous[1] else \
                r - value * (r - previous[0]) / (value - previous[1])
            if secant is None or (secant - r) * direction <= 0:
                secant = r * (1.2 if value < 0 else 1 / 1.2)
            secant += direction * 0.5 * R_PRECISION * secant
            step = min(max(secant, r / 3), 3 * r)
        previous, r = (r, value), step
    raise TmetError(f"no crossing found for the {what} limit on r (last r = {r:.4g})")
