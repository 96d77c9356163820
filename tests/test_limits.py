"""Asymptotic CLs limits (analysis/stats/limits.py) on Combine's model of a card
(analysis/stats/model.py, likelihood.py), on cards written here in the format of
analysis/stats/datacard.py: a counting experiment against the asymptotic formulae, the model's
interpolations and MC-statistics parameters against Combine's formulae, the exact gradient,
the search for the lower of two minima, systematics that must weaken the limit, a two-channel
card with every kind of nuisance, bad cards. tests/test_combine_reference.py compares with
Combine's own numbers."""

import math
import os
import re
from statistics import NormalDist

import numpy as np
import pytest

from analysis.stats import limits
from analysis.stats.cards import parse_datacard
from analysis.stats.likelihood import Fit, profile
from analysis.stats.model import GAUSSIAN, POISSON, card_model, yields
from analysis.errors import TmetError
from analysis.engine.root_setup import import_root

S, B = 10.0, 100.0  # the counting experiment: signal and background events in one bin
REFERENCE = os.path.join(os.path.dirname(__file__), "data", "combine")


def write_card(directory, templates, lnn=None, shape_sources=(), auto_mc_stats=False):
    """Card and shapes file as analysis/stats/datacard.py writes them; returns the card's path.

    ``templates`` is {bin: {histogram name: bin contents}} with data_obs, the processes
    (the first one the signal) and their <process>_<source>Up/Down; every template gets
    errors of 20 % of its contents (which only autoMCStats may use). ``lnn`` is
    {name: {process: "k" or "kdown/kup"}}.
    """
    ROOT = import_root()
    os.makedirs(directory, exist_ok=True)
    tfile = ROOT.TFile.Open(os.path.join(directory, "shapes_test.root"), "RECREATE")
    for bin_, hists in templates.items():
        tfile.mkdir(bin_).cd()
        for name, contents in hists.items():
            hist = ROOT.TH1D(name, name, len(contents), 0.0, float(len(contents)))
            for i, content in enumerate(contents):
                hist.SetBinContent(i + 1, content)
                hist.SetBinError(i + 1, 0.2 * content)
            hist.Write()
    tfile.Close()
    bins = list(templates)
    processes = [p for p in templates[bins[0]] if p != "data_obs" and not p.endswith(("Up", "Down"))]
    columns = [(b, p) for b in bins for p in processes]

    def row(label, values):
        return f"{label:<24}" + "".join(f"{v:<16}" for v in values)

    lines = ["# made by tests/test_limits.py", f"imax {len(bins)}", f"jmax {len(processes) - 1}", "kmax *",
             "-" * 40, "shapes * * shapes_test.root $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC", "-" * 40,
             row("bin", bins), row("observation", [f"{sum(templates[b]['data_obs']):g}" for b in bins]), "-" * 40,
             row("bin", [b for b, _ in columns]), row("process", [p for _, p in columns]),
             row("process", [processes.index(p) for _, p in columns]), row("rate", [-1] * len(columns)), "-" * 40]
    lines += [row(f"{name} lnN", [values.get(p, "-") for _, p in columns]) for name, values in (lnn or {}).items()]
    lines += [row(f"{source} shape", [1] * len(columns)) for source in shape_sources]
    lines += ["* autoMCStats 10"] if auto_mc_stats else []
    path = os.path.join(directory, "datacard_test.txt")
    with open(path, "w") as card:
        card.write("\n".join(lines) + "\n")
    return path


def asymptotic_counting_limit(quantile, s=S, b=B, alpha=0.05):
    """CLs limit of a counting experiment at a quantile of the background-only expectation.

    Cowan, Cranmer, Gross, Vitells (2011): mu_N = sigma (Phi^-1(1 - alpha Phi(N)) + N),
    N = Phi^-1(quantile), with sigma = mu / sqrt(q_mu,A) from the Asimov data n = b,
    q_mu,A = 2 (mu s - b ln(1 + mu s / b)); solved for mu by bisection.
    """
    normal = NormalDist()
    n_sigma = normal.inv_cdf(quantile)
    target = normal.inv_cdf(1 - alpha * quantile) + n_sigma
    low, high = 0.0, 100.0
    while high - low > 1e-9:
        mu = (low + high) / 2
        low, high = (mu, high) if 2 * (mu * s - b * math.log1p(mu * s / b)) < target ** 2 else (low, mu)
    return low


def counting(directory, lnn=None):
    """Card of the one-bin counting experiment (no autoMCStats), with optional lnN."""
    return write_card(directory, {"sr": {"sig": [S], "bkg": [B], "data_obs": [B]}}, lnn)


def two_bins(directory, shape=False):
    """A signal-like and a background-like bin; ``shape``: background +-30 % in the first."""
    hists = {"sig": [S, 1.0], "bkg": [B, B], "data_obs": [B, B]}
    if shape:
        hists.update({"bkg_jesUp": [1.3 * B, B], "bkg_jesDown": [0.7 * B, B],
                      "sig_jesUp": [S, 1.0], "sig_jesDown": [S, 1.0]})
    return write_card(directory, {"sr": hists}, shape_sources=["jes"] if shape else ())


@pytest.fixture(scope="module")
def counting_limits(tmp_path_factory):
    return limits.limits_from_card(counting(tmp_path_factory.mktemp("counting")))


def test_counting_experiment_matches_asymptotic_formula(counting_limits):
    for key, quantile in limits.QUANTILES.items():
        assert counting_limits[key] == pytest.approx(asymptotic_counting_limit(quantile), rel=1e-3), key
    assert counting_limits["expected"] == pytest.approx(2.090, abs=0.005)
    assert counting_limits["minus1"] < counting_limits["expected"] < counting_limits["plus1"]
    # the data are the background expectation: observed = median expected
    assert counting_limits["observed"] == pytest.approx(counting_limits["expected"], rel=0.02)


def test_blind_limits_do_not_use_the_data(tmp_path, counting_limits):
    blind = limits.asymptotic_limits(card_model(counting(tmp_path)), observed=False)
    assert blind["observed"] is None
    assert blind["expected"] == pytest.approx(counting_limits["expected"], rel=0.01)


def test_lnn_and_shape_uncertainties_weaken_the_limit(tmp_path, counting_limits):
    with_lnn = limits.limits_from_card(counting(tmp_path / "lnn", lnn={"bkg_norm": {"bkg": "1.5"}}))
    assert with_lnn["expected"] > 1.5 * counting_limits["expected"]
    without_shape = limits.limits_from_card(two_bins(tmp_path / "nominal"))
    with_shape = limits.limits_from_card(two_bins(tmp_path / "shape", shape=True))
    assert with_shape["expected"] > 1.1 * without_shape["expected"]


@pytest.fixture(scope="module")
def two_channel_card(tmp_path_factory):
    """Two channels, two backgrounds, shape, symmetric and asymmetric lnN, autoMCStats, floored bins."""
    floor = 1e-5
    templates = {
        "sr": {"sig": [2.0, 5.0, 8.0], "tt": [50.0, 20.0, 4.0], "wjets": [30.0, 6.0, floor],
               "data_obs": [84, 25, 9]},
        "cr": {"sig": [0.5, 0.2, 0.0], "tt": [200.0, 80.0, 10.0], "wjets": [150.0, 40.0, floor],
               "data_obs": [340, 126, 12]},
    }
    for hists in templates.values():
        for process in ("sig", "tt", "wjets"):
            for source, effect in (("jes", 0.08), ("btag", 0.05)):
                nominal = hists[process]
                hists[f"{process}_{source}Up"] = [v * (1 + effect * (i + 1)) for i, v in enumerate(nominal)]
                hists[f"{process}_{source}Down"] = [v * (1 - effect * (i + 1)) for i, v in enumerate(nominal)]
    lnn = {"lumi": {p: "1.0250" for p in ("sig", "tt", "wjets")}, "xsec_tt": {"tt": "0.9451/1.0484"},
           "xsec_sig": {"sig": "1.2000"}}
    return write_card(tmp_path_factory.mktemp("two_channels"), templates, lnn, ["jes", "btag"], auto_mc_stats=True)


def test_parse_datacard(two_channel_card):
    card = parse_datacard(two_channel_card)
    assert card["bins"] == ["sr", "cr"]
    assert card["observation"] == {"sr": 118.0, "cr": 478.0}
    assert card["columns"][:3] == [("sr", "sig", 0), ("sr", "tt", 1), ("sr", "wjets", 2)]
    assert card["rates"][("cr", "wjets")] == -1
    assert card["lnN"]["xsec_tt"] == {("sr", "tt"): (0.9451, 1.0484), ("cr", "tt"): (0.9451, 1.0484)}
    assert card["lnN"]["xsec_sig"][("cr", "sig")] == pytest.approx((1 / 1.2, 1.2))
    assert card["shape"]["jes"] == {(b, p) for b in ("sr", "cr") for p in ("sig", "tt", "wjets")}
    assert card["autoMCStats"] == {"sr": (10.0, False), "cr": (10.0, False)}
    assert card["shapes"][0]["file"] == os.path.join(os.path.dirname(two_channel_card), "shapes_test.root")


def test_model_parameters(two_channel_card, tmp_path):
    model = card_model(two_channel_card)
    assert model.nuisances == ["lumi", "xsec_tt", "xsec_sig", "jes", "btag"]
    assert list(model.theta_max) == [7, 7, 7, 4, 4]  # Combine's ranges of lnN and shape nuisances
    # errors of 20 %: every bin has more than 10 effective MC events, one Gaussian parameter each
    assert model.total_bins.all() and list(model.term_kind) == [GAUSSIAN] * 6
    assert len(card_model(counting(tmp_path)).term_kind) == 0


def test_mc_statistics_parameters_as_combine_chooses_them():
    """The bins of the 'thresholds' reference card get the parameters text2workspace.py v10.6.0
    printed for it: a total parameter above 10 effective events, per process at or below (a
    Poisson one where round(T^2/E^2) <= 10, a Gaussian one where the error exceeds the content
    or the process has more events), none for a process without error."""
    model = card_model(os.path.join(REFERENCE, "thresholds", "datacard.txt"))
    terms = {(model.bins[b][1], model.column_names[model.cell_column[c]][1] if c >= 0 else "total"): (k, n)
             for k, b, c, n in zip(model.term_kind, model.term_bin, model.term_cell, model.term_events)}
    expected = {(0, "total"): (GAUSSIAN, 1), (1, "total"): (GAUSSIAN, 1), (2, "total"): (GAUSSIAN, 1),
                (3, "sig"): (GAUSSIAN, 1), (3, "bkg1"): (POISSON, 6), (3, "bkg2"): (POISSON, 3),
                (4, "sig"): (GAUSSIAN, 1), (4, "bkg1"): (POISSON, 4), (4, "bkg2"): (GAUSSIAN, 1),
                (5, "sig"): (GAUSSIAN, 1), (5, "bkg2"): (POISSON, 1)}
    assert terms == expected
    poisson = model.term_kind == POISSON
    assert model.term_high[poisson] == pytest.approx([43.60, 36.46, 38.96, 30.85], abs=0.01)  # 7 sigma


def test_normalisation_and_morphing_follow_combines_interpolation():
    """coeff: kup^theta above 0.5, kdown^-theta below -0.5, in between exp(theta (mean +
    half-difference h(2 theta))) of log(kup) and -log(kdown); templates: Up at +1, Down at
    -1, linear beyond, cropped at 1e-9."""
    model = card_model(os.path.join(REFERENCE, "asymmetric_lnn", "datacard.txt"))
    k = model.nuisances.index("norm_bkg")
    bkg = model.column_names.index(("sr", "bkg"))
    above, below = np.log(1.3), -np.log(0.8)  # the log-kappas of theta > 0.5 and theta < -0.5

    def coeff(theta):
        thetas = np.zeros(len(model.nuisances))
        thetas[k] = theta
        return yields(model, thetas, 1.0).coeff[bkg]

    for theta in (0.5, 1.0, 2.5):
        assert coeff(theta) == pytest.approx(1.3 ** theta, rel=1e-12)
        assert coeff(-theta) == pytest.approx(0.8 ** theta, rel=1e-12)
    x = 2 * 0.2
    h = (3 * x ** 5 - 10 * x ** 3 + 15 * x) / 8
    assert coeff(0.2) == pytest.approx(np.exp(0.2 * (0.5 * (above + below) + 0.5 * (above - below) * h)), rel=1e-12)
    shaped = card_model(os.path.join(REFERENCE, "one_sided_shape", "datacard.txt"))
    s = shaped.nuisances.index("scale")
    cells = shaped.cell_column == shaped.column_names.index(("sr", "bkg"))
    nominal = np.array([80.0, 40.0, 20.0, 8.0])
    up, down = nominal * (1 + 0.08 * np.arange(4)), nominal * (1 + 0.03 * np.arange(4))
    up, down = (v * nominal.sum() / v.sum() for v in (up, down))  # the normalisation is the AsymPow's

    def shape(theta):
        thetas = np.zeros(len(shaped.nuisances))
        thetas[s] = theta
        return yields(shaped, thetas, 1.0).shape[cells]

    assert shape(1.0) == pytest.approx(up, rel=1e-12) and shape(-1.0) == pytest.approx(down, rel=1e-12)
    assert shape(2.0) == pytest.approx(nominal + 2 * (up - nominal), rel=1e-12)
    assert shape(-3.0) == pytest.approx(nominal + 3 * (down - nominal), rel=1e-12)
    assert shape(40.0).min() == 1e-9


def test_gradient_is_exact():
    model = card_model(os.path.join(REFERENCE, "thresholds", "datacard.txt"))
    fit = Fit(model, model.data)
    theta, r, step = np.array([0.3, -0.7, 1.2]), 0.8, 1e-6
    _, d_theta, d_r, _ = fit.evaluate(theta, r)
    for k in range(3):
        shift = np.eye(3)[k] * step
        numeric = (fit.evaluate(theta + shift, r)[0] - fit.evaluate(theta - shift, r)[0]) / (2 * step)
        assert d_theta[k] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    assert d_r == pytest.approx((fit.evaluate(theta, r + step)[0] - fit.evaluate(theta, r - step)[0]) / (2 * step),
                                rel=1e-5)


def test_one_gaussian_parameter_per_bin_is_profiled_as_combine_solves_it():
    """Combine's analytic Barlow-Beeston solution of a bin's total parameter x (data n, events
    S, total error e, zero-point g): the larger root of x^2 + (e + S/e - g) x + S - n - S g/e."""
    model = card_model(os.path.join(REFERENCE, "with_mcstats", "datacard.txt"))
    y = yields(model, np.full(len(model.nuisances), 0.4), 1.3)
    zero_points = np.linspace(-0.5, 0.5, len(model.term_kind))
    p = profile(model, y, model.data, zero_points)
    total = model.term_cell < 0
    assert total.sum() >= 6
    events = np.bincount(model.cell_bin, y.events)[model.term_bin]
    e, n, g = p.weights, model.data[model.term_bin], zero_points
    b, c = e + events / e - g, events - n - events / e * g
    assert p.terms[total] == pytest.approx(((-b + np.sqrt(b * b - 4 * c)) / 2)[total], rel=1e-9)


def test_the_lower_of_two_minima_is_found(tmp_path):
    """Up and Down both above the nominal make the NLL nearly even in the shape's theta: a fit
    started on the wrong side stays there, the search from the mirror image finds the deeper
    minimum."""
    hists = {"sig": [1.0, 2.0], "bkg": [100.0, 100.0], "data_obs": [100, 130],
             "sig_effUp": [1.0, 2.0], "sig_effDown": [1.0, 2.0],
             "bkg_effUp": [100.0, 120.0], "bkg_effDown": [100.0, 116.0]}
    model = card_model(write_card(tmp_path, {"sr": hists}, shape_sources=["eff"]))
    started_wrong = Fit(model, model.data)
    started_wrong.theta = np.array([-0.8])
    local = started_wrong.minimum(r=0.0)
    started_wrong.theta = np.array([-0.8])
    best = started_wrong.minimum(r=0.0, search=True)
    assert local.theta[0] < 0 < best.theta[0] and best.nll < local.nll - 0.01


def test_a_minimum_on_the_kink_of_a_cropped_template_is_found(tmp_path):
    """A background whose Down template nearly empties a bin without data: its morphed
    template reaches the crop (1e-9) just past theta = -1, a kink of the NLL where the minimum
    lies. Migrad stops there short of its distance-to-minimum target under every strategy
    (one of them also short of the minimum); the restarts find it (it failed as an error
    on the main job's tdm_ps_m100 card, an observed-limit fit)."""
    hists = {"sig": [1.0, 1.0], "bkg": [10.0, 30.0], "data_obs": [0, 30],
             "sig_sUp": [1.0, 1.0], "sig_sDown": [1.0, 1.0], "bkg_sUp": [20.0, 30.0], "bkg_sDown": [1e-3, 30.0]}
    model = card_model(write_card(tmp_path, {"sr": hists}, {"lumi": {"bkg": "1.02"}}, ["s"]))
    fit = Fit(model, model.data)
    best = fit.minimum(r=0.0)
    s = model.nuisances.index("s")
    assert -1.001 < best.theta[s] < -1.0
    cell = (model.cell_bin == 0) & ~model.column_signal[model.cell_column]  # the background's first bin
    at_crop = [yields(model, best.theta + np.eye(len(best.theta))[s] * d, 0.0).events[cell][0] < 1e-6
               for d in (-1e-6, 1e-6)]
    assert at_crop == [True, False]  # the kink: the template cropped just before it, not after
    for k in range(len(best.theta)):  # no point nearby lower by more than Migrad's target
        for step in (-1e-4, 1e-4):
            assert fit.evaluate(best.theta + np.eye(len(best.theta))[k] * step, 0.0)[0] > best.nll - 1e-6


def test_limits_from_two_channel_card(two_channel_card):
    result = limits.limits_from_card(two_channel_card)
    values = [result[key] for key in limits.QUANTILES]
    assert all(math.isfinite(v) for v in values + [result["observed"]])
    assert values == sorted(values) and len(set(values)) == 5
    assert 0 < result["minus2"] and result["observed"] > 0


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace("jes shape", "jes gmN 3"), "unsupported line"),
    (lambda text: text.replace("1.0250", "1.0250 1.0250", 1), "lumi has 7 values for 6 columns"),
    (lambda text: text.replace("0.9451/1.0484", "x/1.0484", 1), "'x' is not a number"),
    (lambda text: text.replace("shapes_test.root", "missing.root"), "missing.root"),
    (lambda text: re.sub(r"^(rate\s+)-1", r"\g<1>5", text, flags=re.M), "rate 5 of sig in sr is not its template's"),
])
def test_bad_cards_raise_tmet_error(two_channel_card, edit, message):
    bad = os.path.join(os.path.dirname(two_channel_card), "datacard_bad.txt")  # beside its shapes file
    with open(bad, "w") as card:
        card.write(edit(open(two_channel_card).read()))
    with pytest.raises(TmetError, match=message) as error:
        card_model(bad)
    assert "datacard_bad.txt" in str(error.value)


def test_unknown_signal_raises_tmet_error(two_channel_card):
    with pytest.raises(TmetError, match="'tt' is not a signal"):
        card_model(two_channel_card, signal="tt")
