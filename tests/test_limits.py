"""Asymptotic CLs limits (analysis/stats/limits.py) on cards written here in the format of
analysis/stats/datacard.py: a counting experiment against the asymptotic formulae, systematics
that must weaken the limit, a two-channel card with every kind of nuisance, bad cards."""

import math
import os
from statistics import NormalDist

import pytest

from analysis.stats import limits
from analysis.errors import TmetError
from analysis.engine.root_setup import import_root

S, B = 10.0, 100.0  # the counting experiment: signal and background events in one bin
BANDS = {"minus2": -2, "minus1": -1, "expected": 0, "plus1": 1, "plus2": 2}


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


def asymptotic_counting_limit(n_sigma, s=S, b=B, alpha=0.05):
    """CLs limit of a counting experiment at n_sigma of the background-only expectation.

    Cowan, Cranmer, Gross, Vitells (2011): mu_N = sigma (Phi^-1(1 - alpha Phi(N)) + N) with
    sigma = mu / sqrt(q_mu,A) from the Asimov data n = b,
    q_mu,A = 2 (mu s - b ln(1 + mu s / b)); solved for mu by bisection.
    """
    normal = NormalDist()
    target = normal.inv_cdf(1 - alpha * normal.cdf(n_sigma)) + n_sigma
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
    for key, n_sigma in BANDS.items():
        assert counting_limits[key] == pytest.approx(asymptotic_counting_limit(n_sigma), rel=0.02), key
    assert counting_limits["expected"] == pytest.approx(2.090, abs=0.005)
    assert counting_limits["minus1"] < counting_limits["expected"] < counting_limits["plus1"]
    # the data are the background expectation: observed = median expected
    assert counting_limits["observed"] == pytest.approx(counting_limits["expected"], rel=0.02)


def test_blind_limits_do_not_use_the_data(tmp_path, counting_limits):
    card = limits.parse_datacard(counting(tmp_path))
    blind = limits.asymptotic_limits(limits.build_workspace(card), observed=False)
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
    card = limits.parse_datacard(two_channel_card)
    assert card["bins"] == ["sr", "cr"]
    assert card["observation"] == {"sr": 118.0, "cr": 478.0}
    assert card["columns"][:3] == [("sr", "sig", 0), ("sr", "tt", 1), ("sr", "wjets", 2)]
    assert card["rates"][("cr", "wjets")] == -1
    assert card["lnN"]["xsec_tt"] == {("sr", "tt"): (0.9451, 1.0484), ("cr", "tt"): (0.9451, 1.0484)}
    assert card["lnN"]["xsec_sig"][("cr", "sig")] == pytest.approx((1 / 1.2, 1.2))
    assert card["shape"]["jes"] == {(b, p) for b in ("sr", "cr") for p in ("sig", "tt", "wjets")}
    assert card["autoMCStats"] == {"sr": False, "cr": False}
    assert card["shapes"][0]["file"] == os.path.join(os.path.dirname(two_channel_card), "shapes_test.root")


def test_workspace_model(two_channel_card, tmp_path):
    workspace = limits.build_workspace(limits.parse_datacard(two_channel_card))
    model = workspace.obj("ModelConfig")
    assert model.GetParametersOfInterest().first().GetName() == "mu"
    nuisances = {v.GetName() for v in model.GetNuisanceParameters()}
    assert {"alpha_lumi", "alpha_xsec_tt", "alpha_xsec_sig", "alpha_jes", "alpha_btag"} <= nuisances
    assert "Lumi" not in nuisances and workspace.var("Lumi").isConstant()
    assert {f"gamma_stat_{b}_bin_{i}" for b in ("sr", "cr") for i in range(3)} <= nuisances
    no_mc_stats = limits.build_workspace(limits.parse_datacard(counting(tmp_path)))
    assert not any(v.GetName().startswith("gamma") for v in no_mc_stats.allVars())


def test_limits_from_two_channel_card(two_channel_card):
    result = limits.limits_from_card(two_channel_card)
    values = [result[key] for key in BANDS]
    assert all(math.isfinite(v) for v in values + [result["observed"]])
    assert values == sorted(values) and len(set(values)) == 5
    assert 0 < result["minus2"] and result["observed"] > 0


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace("jes shape", "jes gmN 3"), "unsupported line"),
    (lambda text: text.replace("1.0250", "1.0250 1.0250", 1), "lumi has 7 values for 6 columns"),
    (lambda text: text.replace("0.9451/1.0484", "x/1.0484", 1), "'x' is not a number"),
    (lambda text: text.replace("shapes_test.root", "missing.root"), "missing.root"),
])
def test_bad_cards_raise_tmet_error(two_channel_card, tmp_path, edit, message):
    bad = tmp_path / "datacard_bad.txt"
    bad.write_text(edit(open(two_channel_card).read()))
    with pytest.raises(TmetError, match=message) as error:
        limits.build_workspace(limits.parse_datacard(str(bad)))
    assert "datacard_bad.txt" in str(error.value)


def test_unknown_signal_raises_tmet_error(two_channel_card):
    with pytest.raises(TmetError, match="'tt' is not a signal"):
        limits.build_workspace(limits.parse_datacard(two_channel_card), signal="tt")
