"""Asymptotic CLs upper limits on the signal strength ``mu`` of a tmet (Combine-format) shape card.

Without Combine and ``hist2workspace``, the card is parsed here, its model built in memory with
RooStats' HistFactory, and RooStats' AsymptoticCalculator and HypoTestInverter give the limits as
Combine's AsymptoticLimits does (CLs, one-sided q~_mu with mu >= 0, band from Asimov data). Model:
a channel per bin, a sample per process, POI ``mu`` on the signals; ``lnN`` k or kdown/kup ->
OverallSys(low=kdown, high=kup) (k: 1/k, k), kappa^theta beyond |theta| = 1, a smooth polynomial
inside, close to Combine's log-normal; ``lumi`` is such an lnN (HistFactory's ``Lumi`` is fixed);
``shape`` -> as in Combine, a normalisation part (OverallSys of the Up/Down integral ratios) and a
morphing part (HistoSys of the Up/Down templates scaled to the nominal integral) on one parameter;
``autoMCStats`` -> staterror, a gamma per bin scaling the backgrounds' sum (with the include-signal
flag also the signals), Poisson-constrained by its relative MC error: autoMCStats' Barlow-Beeston-
lite (which below its event threshold uses a term per process; HistFactory cannot). Bins with a
relative error below STAT_THRESHOLD get no gamma; without autoMCStats template errors are unused.
"""

import math
import os
from statistics import NormalDist

from analysis.errors import TmetError
from config.processes import card_sets
from analysis.engine.root_setup import import_root

STAT_THRESHOLD = 0.001  # relative MC error below which a bin gets no staterror gamma
MAX_SCANS = 5  # scans of the mu range before giving up on finding the limits inside it
GAMMA_MAX = 20.0  # upper bound of the MC-statistics gammas
BANDS = {"minus2": -2, "minus1": -1, "expected": 0, "plus1": 1, "plus2": 2}  # expected limits: sigmas


def used_config(config):
    """The config values the limits depend on beyond their cards: whether they are observed."""
    return {"observed": observed(config)}


def observed(config):
    """Whether the config's limits include the observed one: none of its categories is blinded."""
    return not config.x.blinded_categories


def config_limits(config, cards):
    """{signal: limits_from_card} of every signal of ``config``, each from the combined card
    of its card set (``cards``: {card set: local path of its combined card})."""
    return {signal: limits_from_card(cards[card_set], observed=observed(config), signal=signal)
            for card_set, signals in card_sets(config).items() for signal in signals}


def parse_datacard(path):
    """A Combine shape card as a dict, checked so that errors name the card: path, bins, observation
    {bin: n}, columns [(bin, process, index)], rates {(bin, process): rate}, lnN {name: {(bin,
    process): (kdown, kup)}}, shape {name: {(bin, process)}}, shapes [{process, channel, file,
    nominal, systematic}] (file relative to the card), autoMCStats {bin: include_signal}."""
    def fail(message):
        return TmetError(f"datacard {path}: {message}")

    def number(text):
        try:
            return float(text)
        except ValueError:
            raise fail(f"'{text}' is not a number") from None

    if not os.path.isfile(path):
        raise TmetError(f"datacard {path} does not exist")
    with open(path) as card_file:
        rows = [line.split("#")[0].split() for line in card_file]
    card = {"path": os.path.abspath(path), "lnN": {}, "shape": {}, "shapes": [], "autoMCStats": {}}
    bin_rows, process_rows, nuisances = [], [], []
    for key, *values in (row for row in rows if row and not row[0].startswith("-")):
        if key == "shapes" and len(values) in (4, 5):
            rule = dict(zip(("process", "channel", "file", "nominal", "systematic"), values + [None]))
            card["shapes"].append(dict(rule, file=os.path.join(os.path.dirname(card["path"]), rule["file"])))
        elif key in ("bin", "process"):
            (bin_rows if key == "bin" else process_rows).append(values)
        elif key in ("observation", "rate"):
            card[key] = [number(v) for v in values]
        elif values[:1] == ["autoMCStats"] and len(values) >= 2 and bin_rows:  # {bin: include signal}
            card["autoMCStats"].update({b: values[2:3] == ["1"] for b in bin_rows[0] if key in ("*", b)})
        elif values[:1] in (["lnN"], ["shape"]):
            nuisances.append((key, values[0], values[1:]))
        elif key not in ("imax", "jmax", "kmax"):
            raise fail(f"unsupported line '{' '.join([key] + values)}' (lnN, shape and autoMCStats are)")
    if len(bin_rows) != 2 or len(process_rows) != 2 or not {"observation", "rate"} <= set(card) or not card["shapes"]:
        raise fail("needs a shapes line, a bin/observation block and a bin/process/process/rate block")
    names, indices = sorted(process_rows, key=lambda row: all(v.lstrip("-").isdigit() for v in row))
    card["bins"], columns = bin_rows[0], bin_rows[1]
    if not (all(i.lstrip("-").isdigit() for i in indices) and len(card["observation"]) == len(card["bins"])
            and set(columns) <= set(card["bins"]) and len(columns) == len(names) == len(indices) == len(card["rate"])):
        raise fail("the bin, observation, process (names and integer indices) and rate rows do not match")
    card["columns"] = [(b, p, int(i)) for b, p, i in zip(columns, names, indices)]
    card["observation"] = dict(zip(card["bins"], card["observation"]))
    card["rates"] = {(b, p): r for (b, p, _), r in zip(card["columns"], card.pop("rate"))}
    for name, kind, values in nuisances:
        if len(values) != len(columns):
            raise fail(f"nuisance {name} has {len(values)} values for {len(columns)} columns")
        present = {(b, p): v for (b, p, _), v in zip(card["columns"], values) if v not in ("-", "0")}
        if kind == "shape":
            if any(number(v) != 1 for v in present.values()):
                raise fail(f"shape nuisance {name}: only 1, 0 or - are supported")
            card["shape"][name] = set(present)
            continue
        kappas = {column: [number(k) for k in v.split("/")] for column, v in present.items()}
        if any(len(k) > 2 or min(k) <= 0 for k in kappas.values()):
            raise fail(f"lnN {name}: values must be k or kdown/kup with positive k")
        card["lnN"][name] = {column: (k[0], k[-1]) if len(k) == 2 else (1 / k[0], k[0]) for column, k in kappas.items()}
    return card


def build_workspace(card, signal=None):
    """HistFactory workspace (ModelConfig, obsData) of a parsed card; ``mu`` scales the signals
    (index <= 0) or only ``signal``, the others then left out (a limit is on one hypothesis)."""
    ROOT = _root()
    factory = ROOT.RooStats.HistFactory
    signals = {p for _, p, i in card["columns"] if i <= 0}
    if signal is not None and signal not in signals:
        raise TmetError(f"'{signal}' is not a signal of {card['path']}; its signals: {', '.join(sorted(signals))}")
    measurement = factory.Measurement("tmet", "tmet")
    measurement.SetPOI("mu")
    measurement.AddConstantParam("Lumi")  # fixed at 1: the card's lumi is an lnN like the others
    files = {}  # the shapes files, open while the templates are read
    for bin_ in card["bins"]:
        channel = factory.Channel(bin_)
        channel.SetData(_template(card, files, bin_, "data_obs"))
        if bin_ in card["autoMCStats"]:
            channel.SetStatErrorConfig(STAT_THRESHOLD, "Poisson")
        for column_bin, process, index in card["columns"]:
            if column_bin == bin_ and (index > 0 or signal in (None, process)):
                channel.AddSample(_sample(card, files, bin_, process, index <= 0))
        measurement.AddChannel(channel)
    config = factory.HistoToWorkspaceFactoryFast.Configuration()
    config.createWorkspaceFile = config.createPerRegionWorkspaces = False
    workspace = factory.HistoToWorkspaceFactoryFast.MakeCombinedModel(measurement, config)
    ROOT.SetOwnership(workspace, True)
    # HistFactory bounds the MC-statistics gammas at 1 + 5 sigma, which fits of bins with few
    # MC events (sigma near 1) can reach; RooFit then stops instead of clipping
    for var in workspace.allVars():
        if var.GetName().startswith("gamma_stat"):
            var.setMax(max(var.getMax(), GAMMA_MAX))
    return workspace


def asymptotic_limits(workspace, observed=True, cl=0.95, mu_max=None, n_points=20):
    """{expected, minus2, minus1, plus1, plus2, observed} upper limits on mu at ``cl``.

    The expected band is a-priori: from the nominal background-only Asimov data (as Combine
    with ``-t -1``), so that it does not depend on how well the data are described; the
    observed limit (``observed=True``) comes from its own scan on the data.
    CLs at mu = k mu_max / n_points (k = 1..n_points), spline-interpolated (as precise as linear
    interpolation of 5x as many points); mu_max by default 3x the median expected limit of
    profiled background-only Asimov data (+2 sigma is ~2x), widened while a limit lands near it
    and refined while one lands below the first scan point."""
    ROOT, model = _root(), workspace.obj("ModelConfig")
    workspace.loadSnapshot("NominalParamValues")
    model.GetParametersOfInterest().first().setVal(0)
    asimov = ROOT.RooStats.AsymptoticCalculator.GenerateAsimovData(model.GetPdf(), model.GetObservables())
    auto, mu_max = mu_max is None, mu_max or 3 * _median_estimate(ROOT, model, asimov, cl)
    limits = _limits_in_range(ROOT, workspace, model, asimov, False, cl, mu_max, n_points, auto, BANDS)
    if observed:
        limits["observed"] = _limits_in_range(ROOT, workspace, model, workspace.data("obsData"), True, cl, mu_max,
                                              n_points, auto, ["observed"])["observed"]
    return limits


def _limits_in_range(ROOT, workspace, model, data, observed, cl, mu_max, n_points, auto, keys):
    """_scan() repeated until the limits ``keys`` lie inside the scanned range."""
    for _ in range(MAX_SCANS):
        limits = _scan(ROOT, workspace, model, data, observed, cl, mu_max, n_points)
        values = [limits[key] for key in keys]
        top, bottom = max(values), min(values)
        if not auto:
            return limits
        if top >= 0.9 * mu_max:
            mu_max = 1.5 * top if top < mu_max else 3 * mu_max  # not found inside: look much further
        elif bottom < mu_max / n_points:
            # below the first scan point: scan just above the highest limit, finer if that is no narrower
            mu_max, n_points = 1.2 * top, n_points if 1.2 * top < 0.8 * mu_max else 2 * n_points
        else:
            return limits
    raise TmetError(f"no {cl:.0%} CL limit on mu found up to mu = {mu_max:.4g}; give mu_max")


def limits_from_card(card_path, observed=True, signal=None):
    """asymptotic_limits() of the model of the card at ``card_path`` (of one ``signal`` of it)."""
    return asymptotic_limits(build_workspace(parse_datacard(card_path), signal), observed=observed)


def _root():
    """ROOT with the printing of RooStats' calculators and of the minimisers switched off."""
    ROOT = import_root()
    ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)
    ROOT.Math.MinimizerOptions.SetDefaultPrintLevel(-1)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    return ROOT


def _template(card, files, bin_, process, systematic=None):
    """TH1 of ``process`` in ``bin_`` (shifted: ``systematic`` e.g. jesUp) from the card's shapes files,
    detached from its file and not owned by Python: HistFactory takes ownership of the TH1s it gets."""
    ROOT = _root()
    rule = max((r for r in card["shapes"] if r["process"] in ("*", process) and r["channel"] in ("*", bin_)),
               key=lambda r: 2 * (r["process"] != "*") + (r["channel"] != "*"), default=None)  # most specific
    if rule is None:
        raise TmetError(f"datacard {card['path']}: no shapes line for {process} in {bin_}")
    pattern = (rule["systematic"] if systematic else rule["nominal"]) or ""
    name = pattern.replace("$CHANNEL", bin_).replace("$PROCESS", process).replace("$SYSTEMATIC", systematic or "")
    if rule["file"] not in files:
        if not os.path.isfile(rule["file"]):
            raise TmetError(f"shapes file {rule['file']} of {card['path']} does not exist")
        files[rule["file"]] = ROOT.TFile.Open(rule["file"])
    hist = files[rule["file"]].Get(name) if name else None
    if not hist or not hist.InheritsFrom("TH1"):
        raise TmetError(f"{rule['file']} has no histogram '{name}' for {process} in {bin_} ({card['path']})")
    hist.SetDirectory(ROOT.nullptr)
    ROOT.SetOwnership(hist, False)
    return hist


def _sample(card, files, bin_, process, is_signal):
    """HistFactory sample of one card column with its lnN, shape and staterror modifiers."""
    factory = _root().RooStats.HistFactory
    nominal = _template(card, files, bin_, process)
    norm, rate = nominal.Integral(), card["rates"][(bin_, process)]
    scale = rate / norm if rate >= 0 and norm > 0 else 1.0  # rate -1: the template's
    nominal.Scale(scale)
    sample = factory.Sample(process)
    sample.SetNormalizeByTheory(False)
    sample.SetHisto(nominal)
    if is_signal:
        sample.AddNormFactor("mu", 1.0, 0.0, 10.0)  # asymptotic_limits sets the range
    if bin_ in card["autoMCStats"] and (not is_signal or card["autoMCStats"][bin_]):
        sample.ActivateStatError()
    for name, effects in ((n, e) for n, e in card["lnN"].items() if (bin_, process) in e):
        sample.AddOverallSys(name, *effects[(bin_, process)])
    for source in (s for s, columns in card["shape"].items() if (bin_, process) in columns and norm > 0):
        up, down = (_template(card, files, bin_, process, source + d) for d in ("Up", "Down"))
        if not (up.Integral() > 0 and down.Integral() > 0):
            raise TmetError(f"{card['path']}: {process} in {bin_} has an empty {source} template")
        sample.AddOverallSys(source, down.Integral() / norm, up.Integral() / norm)
        histo_sys = factory.HistoSys()
        histo_sys.SetName(source)
        for hist, set_histo in ((up, histo_sys.SetHistoHigh), (down, histo_sys.SetHistoLow)):
            hist.Scale(scale * norm / hist.Integral())
            set_histo(hist)
        sample.AddHistoSys(histo_sys)
    return sample


def _median_estimate(ROOT, model, asimov, cl):
    """Rough median expected limit: mu where q_mu on ``asimov`` (mu = 0; nuisances profiled) is z^2,
    z = Phi^-1(1 - (1 - cl) / 2), by mu -> mu z / sqrt(q_mu): exact for Gaussian bins, converging."""
    poi, z = model.GetParametersOfInterest().first(), NormalDist().inv_cdf(1 - (1 - cl) / 2)
    nll = model.GetPdf().createNLL(asimov, ROOT.RooFit.GlobalObservables(model.GetGlobalObservables()))
    minimum, nuisances, mu = nll.getVal(), model.GetNuisanceParameters(), 1.0
    poi.setConstant(True)
    for _ in range(4):
        poi.setMax(max(mu, poi.getMax()))
        poi.setVal(mu)
        if nuisances:
            minimizer = ROOT.RooMinimizer(nll)
            minimizer.setPrintLevel(-1)
            minimizer.minimize("Minuit2", "Migrad")
        q = 2 * (nll.getVal() - minimum)
        if not q > 0:
            raise TmetError("the signal does not change the likelihood: no limit on mu")
        mu *= z / math.sqrt(q)
    poi.setConstant(False)
    return mu


def _scan(ROOT, workspace, model, data, observed, cl, mu_max, n_points):
    """One HypoTestInverter scan of mu up to mu_max with the AsymptoticCalculator (CLs)."""
    workspace.loadSnapshot("NominalParamValues")
    poi = model.GetParametersOfInterest().first()
    poi.setRange(0, mu_max)
    hypotheses = {}
    for name, value in (("SplusB", mu_max), ("Bonly", 0.0)):  # the inverter sets each scanned mu
        poi.setVal(value)
        hypotheses[name] = model.Clone(name)
        hypotheses[name].SetSnapshot(ROOT.RooArgSet(poi))
    calculator = ROOT.RooStats.AsymptoticCalculator(data, hypotheses["Bonly"], hypotheses["SplusB"], not observed)
    calculator.SetOneSided(True)
    calculator.SetQTilde(True)
    inverter = ROOT.RooStats.HypoTestInverter(calculator)
    inverter.SetConfidenceLevel(cl)
    inverter.UseCLs(True)
    inverter.SetFixedScan(n_points, mu_max / n_points, mu_max)
    result = inverter.GetInterval()
    ROOT.SetOwnership(result, True)
    result.SetInterpolationOption(result.kSpline)
    expected = {key: result.GetExpectedUpperLimit(n) for key, n in BANDS.items()}
    return dict(expected, observed=result.UpperLimit() if observed else None)
