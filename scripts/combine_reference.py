"""CMS Combine's limits and expected significance of shape cards, as JSON: the reference that
tmet's Limits (analysis/stats/limits.py) is checked against.

Combine is a reference tool here, not a dependency: ``combine`` and ``text2workspace.py``
are taken from PATH (built from cms-analysis/HiggsAnalysis-CombinedLimit), ``hadd`` from
PATH or from ROOT's own bin/. A default ``combine -M AsymptoticLimits`` run is not a precise
reference on a card of ~170 parameters (most of them per-process autoMCStats parameters,
which Minuit2 fits with the rest): its fits start where the range of r puts them (r at 0.1
r_max, r_max 20 whatever the card), its searches continue each fit from where the previous
one ended and stop at 0.5 % (or at 0.0005 in r), and its Minuit2 fits (tolerance 0.1) can
end some hundredths of a unit of NLL above the minimum (more along a search). On the main job's cards that
moves its limits by up to 1.6 % (19 % for an observed limit whose search ended in a wrong
crossing). The reference is therefore made as a careful physicist makes it, with Combine's
own options and its documented "splitting points" method, the same procedure for every card:

1. Estimate: ``combine -M AsymptoticLimits workspace.root`` (Combine's defaults).
2. Range and fits: r_max = 3 x the largest estimated limit (three significant digits), so
   that Combine's fits start near the limits (the data fit at 0.1 r_max, the Asimov one at
   0.01 r_max, the median search at 0.05 r_max). Every later ``-M AsymptoticLimits`` command
   has ``--rMax r_max --cminDefaultMinimizerTolerance 0.01 --cminFallbackAlgo
   Minuit2,Migrad,0:0.01``: a tolerance ten times tighter, and a fit that Minuit2 reports as
   failed (its estimated distance to the minimum above the target: on these cards the line
   search stops improving, the covariance is forced positive definite) is repeated by
   Migrad with strategy 0. With these options Combine's q_mu and q_A at fixed r agree with
   an independent minimisation (tmet's) within 0.002 at most points (0.008 at the worst of
   58 on the main job's cards), where the default options leave up to 0.07 and a tighter
   tolerance alone (0.01 or 0.001) up to 0.013; strategy 2 or an approximate pre-fit
   (``--cminApproxPreFitTolerance``) make more of its fits fail.
3. Search: the same with a search accuracy of 0.05 % (``--rRelAcc 0.0005 --rAbsAcc 0``), for
   the next estimates.
4. Grid: ``--singlePoint r`` (Combine's CLs at r, its fits at r starting fresh from the global
   fits, whatever the path of a search) at 0.5 % below and above each of the six limits,
   merged with hadd and read back with ``--getLimitFromGrid``: Combine interpolates log CLs
   between the grid points that bracket each crossing. A limit is stable when it moved by
   less than 0.1 % from the value its points were placed around; the others get a pair of
   points around their new value, until all six are (at most 6 rounds, else an error). The
   limits of the JSON are those of the last ``--getLimitFromGrid``.
5. Significance: ``combine -M Significance -t -1 --expectSignal 1`` with the fit options of
   step 2 (at its default range of r), then with tolerances ten times smaller, until two
   successive values agree within 0.1 % (the last is kept).

The JSON holds, per card (named by its path relative to the JSON's directory), the limits
with tmet's keys (minus2, minus1, expected, plus1, plus2, observed) at full precision from
Combine's ``limit`` trees, the expected significance, Combine's version, r_max, the limits of
steps 1 (``default_limits``) and 3 (``search_limits``), the grid (Combine's CLs per key at
every r), the rounds, and every command run, in order. Usage, where Combine is installed:

    python scripts/combine_reference.py OUT.json CARD [CARD ...] [--limit-options "..."]
        [--cls-at store/Limits/run2_2018_synth/v1/limits.json]

``--limit-options`` adds options to the ``-M AsymptoticLimits`` commands of steps 3 and 4
(and of ``--cls-at``).
``--cls-at`` adds, per card, Combine's own CLs at each of tmet's limits (``--singlePoint r``
with the options of step 4): 0.05 where the two agree.

The reference cards of the tests are regenerated with
``python scripts/combine_reference.py tests/data/combine/combine_reference.json tests/data/combine/*/datacard.txt``.
"""

import argparse
import importlib.util
from array import array
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

QUANTILES = {0.025: "minus2", 0.16: "minus1", 0.5: "expected", 0.84: "plus1", 0.975: "plus2", -1.0: "observed"}
KEYS = list(QUANTILES.values())
ALPHA = 0.05  # 1 - CL
R_MAX_FACTOR = 3.0  # r_max over the largest estimated limit
TOLERANCE = "0.01"  # Minuit2's, ten times Combine's default
SEARCH_ACCURACY = ["--rRelAcc", "0.0005", "--rAbsAcc", "0"]
GRID_STEP = 0.005  # relative distance of a limit's grid points from it
STABLE = 0.001  # a limit (or the significance) is stable when it moves by less than this
MAX_ROUNDS = 6  # rounds of grid points
SIGNIFICANCE_TOLERANCES = (TOLERANCE, "0.001", "0.0001")
SCAN_WIDTH = 4.0  # the scans' range of r, in errors of its singles on each side


def fit_options(tolerance=TOLERANCE):
    """Combine's minimiser options of the reference: Minuit2's ``tolerance``, and a Migrad fit
    that fails repeated by Migrad with strategy 0 (Combine's fallback)."""
    return ["--cminDefaultMinimizerTolerance", tolerance, "--cminFallbackAlgo", f"Minuit2,Migrad,0:{tolerance}"]


class Card:
    """Combine run on one card's workspace in a temporary directory, recording the commands."""

    def __init__(self, card, directory):
        self.card, self.directory, self.commands, self.outputs = os.path.abspath(card), directory, [], 0
        self.version = None  # Combine's, from its banner

    def run(self, command, executable=None):
        """Output of ``command`` (a list; its program found at ``executable`` if given) run in
        the directory; a failure exits naming it."""
        self.commands.append(shlex.join(command).replace(self.card, os.path.basename(self.card)))
        result = subprocess.run(command, cwd=self.directory, capture_output=True, text=True, executable=executable)
        if result.returncode != 0:
            sys.exit(f"combine_reference: '{shlex.join(command)}' failed ({result.returncode}):\n"
                     f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result.stdout

    def path(self, filename):
        """Path of a file of the directory."""
        return os.path.join(self.directory, filename)

    def combine(self, method, *options, workspace="workspace.root"):
        """(name of the output file, stdout) of ``combine -M method WORKSPACE -n N options``."""
        self.outputs += 1
        name = f"{method}{self.outputs}"
        stdout = self.run(["combine", "-M", method, workspace, "-n", name, *options])
        banner = re.search(r"<<< (v[^ ]+) >>>", stdout)
        self.version = self.version or (banner.group(1) if banner else None)
        return f"higgsCombine{name}.{method}.mH120.root", stdout


def limit_tree(path, branches=("quantileExpected", "limit")):
    """Rows (tuples of ``branches``) of a Combine output file's ``limit`` tree."""
    import uproot

    with uproot.open(path) as tfile:
        tree = tfile["limit"].arrays(list(branches), library="np")
    return list(zip(*(tree[b].tolist() for b in branches)))


def by_key(path):
    """{tmet key: value} of a Combine AsymptoticLimits output (limits, or CLs of --singlePoint)."""
    values = {}
    for quantile, value in limit_tree(path):
        key = min(QUANTILES, key=lambda q: abs(q - quantile))
        if abs(key - quantile) < 1e-3:
            values[QUANTILES[key]] = value
    return values


def number(r):
    """r as written on a command line (six significant digits)."""
    return f"{r:.6g}"


def hadd():
    """hadd from PATH, else from ROOT's bin/ (the pip wheel's ROOT does not put it on PATH)."""
    found = shutil.which("hadd")
    if found:
        return found
    spec = importlib.util.find_spec("ROOT")
    candidate = os.path.join(os.path.dirname(spec.origin), "bin", "hadd") if spec and spec.origin else ""
    if not os.path.exists(candidate):
        sys.exit("combine_reference: hadd (ROOT) not found on PATH nor in ROOT's bin/")
    return candidate


def grid_crossing(grid, key):
    """(lower, upper) grid points (r, CLs) of the first crossing of ALPHA in r, as Combine's
    --getLimitFromGrid finds it, or None where the grid does not bracket one."""
    lower = None
    for r, cls in sorted((r, values[key]) for r, values in grid.items()):
        if cls > ALPHA:
            lower = (r, cls)
        elif lower is not None:
            return lower, (r, cls)
    return None


def extrapolation(grid, key):
    """Where log CLs of ``key`` reaches log ALPHA on the line through the two grid points
    nearest to it, kept within a factor 2 of them: the next estimate of an unbracketed limit."""
    (r1, c1), (r2, c2) = sorted(((r, values[key]) for r, values in grid.items()),
                                key=lambda point: abs(math.log(max(point[1], 1e-300) / ALPHA)))[:2]
    slope = (math.log(max(c2, 1e-300)) - math.log(max(c1, 1e-300))) / (r2 - r1)
    estimate = r1 + (math.log(ALPHA) - math.log(max(c1, 1e-300))) / slope if slope < 0 else 2 * max(r1, r2)
    return min(max(estimate, 0.5 * min(r1, r2)), 2 * max(r1, r2))


def reference_limits(run, limit_options):
    """Steps 1-4 of the module docstring: {limits, default_limits, search_limits, r_max,
    grid, rounds} of the workspace in ``run``'s directory."""
    default = by_key(run.path(run.combine("AsymptoticLimits")[0]))
    missing = set(KEYS) - set(default)
    if missing:
        sys.exit(f"combine_reference: Combine gave no {', '.join(sorted(missing))} limit for {run.card}")
    r_max = float(f"{R_MAX_FACTOR * max(default.values()):.3g}")
    options = ["--rMax", number(r_max), *fit_options(), *limit_options]
    search = by_key(run.path(run.combine("AsymptoticLimits", *options, *SEARCH_ACCURACY)[0]))
    estimates, grid, files, rounds, pending = dict(search), {}, [], [], list(KEYS)
    for _ in range(MAX_ROUNDS):
        points = sorted({float(number(estimates[key] * (1 + side * GRID_STEP))) for key in pending for side in (-1, 1)}
                        - set(grid))
        for r in points:
            files.append(run.combine("AsymptoticLimits", "--singlePoint", number(r), *options)[0])
            grid[r] = by_key(run.path(files[-1]))
        run.run(["hadd", "-f", "grid.root", *files], executable=hadd())
        limits = by_key(run.path(run.combine("AsymptoticLimits", "--getLimitFromGrid", "grid.root", "--rMax",
                                             number(r_max))[0]))
        moved = {}
        for key in pending:
            if grid_crossing(grid, key) is None:
                limits[key], moved[key] = extrapolation(grid, key), None
            else:
                moved[key] = limits[key] / estimates[key] - 1
        rounds.append({"points": points, "limits": dict(limits), "moved": moved})
        pending = [key for key in pending if moved[key] is None or abs(moved[key]) >= STABLE]
        estimates.update(limits)
        if not pending:
            break
    else:
        sys.exit(f"combine_reference: the {', '.join(pending)} limits of {run.card} were not stable to "
                 f"{STABLE:.1%} after {MAX_ROUNDS} rounds of grid points: {rounds[-1]}")
    return {"limits": limits, "default_limits": default, "search_limits": search, "r_max": r_max,
            "grid": {number(r): values for r, values in sorted(grid.items())}, "rounds": rounds}


def reference_significance(run):
    """Step 5 of the module docstring: (significance, {tolerance: significance})."""
    values = {}
    for tolerance in SIGNIFICANCE_TOLERANCES:
        output, _ = run.combine("Significance", "-t", "-1", "--expectSignal", "1", *fit_options(tolerance))
        values[tolerance] = limit_tree(run.path(output))[0][1]
        if len(values) > 1 and abs(values[tolerance] / list(values.values())[-2] - 1) < STABLE:
            return values[tolerance], values
    sys.exit(f"combine_reference: the significance of {run.card} was not stable to {STABLE:.1%}: {values}")


def fit_result(tfile, name):
    """({parameter: [value, error]}, {status, cov_qual}) of the RooFitResult ``name`` of a
    FitDiagnostics file: Minuit2's status and covariance quality say whether Combine could
    trust its errors (3: accurate; 2: forced positive definite)."""
    result = tfile.Get(name)
    return ({p.GetName(): [p.getVal(), p.getError()] for p in result.floatParsFinal()},
            {"status": result.status(), "cov_qual": result.covQual()})


def fit_yields(tfile, fit):
    """{channel: {process: [value, error]}} of a FitDiagnostics file's ``norm_<fit>`` set
    (--saveWithUncertainties: the errors from its resampling of the covariance), and, with
    --saveShapes, per channel its ``total_background``: [[value per bin], [error per bin]]
    (the errors with --saveWithUncertainties)."""
    out = {}
    norms = tfile.Get(f"norm_{fit}")
    if not norms:  # FitDiagnostics writes none where the fit's covariance was not accurate
        return out
    for var in norms:
        channel, process = var.GetName().split("/", 1)
        out.setdefault(channel, {})[process] = [var.getVal(), var.getError()]
    directory = tfile.Get(f"shapes_{fit}")
    for key in directory.GetListOfKeys() if directory else []:
        sub = directory.Get(key.GetName())
        total = sub.Get("total_background") if sub and sub.InheritsFrom("TDirectory") else None
        if total:
            bins = range(1, total.GetNbinsX() + 1)
            out.setdefault(key.GetName(), {})["total_background"] = [[total.GetBinContent(i) for i in bins],
                                                                     [total.GetBinError(i) for i in bins]]
    return out


def propagated_yields(workspace, tfile, fit):
    """{channel: {process | total_background: [value, error]}} of Combine's own model (each
    process's yield as FitDiagnostics makes it: its coefficient times the integral of its
    template function, CMSHistErrorPropagator's wrapper) at the fit ``fit`` of a FitDiagnostics
    file (``prefit``: every parameter nominal, r = 1), each error propagated linearly with
    that fit's covariance (before the fit: the constraints' widths, sqrt(n) for a Poisson
    one): derivatives by central differences of 1e-3 of each parameter's error. The
    noise-free, first-order value of what --saveWithUncertainties estimates by resampling."""
    import numpy as np
    import ROOT

    w = ROOT.TFile.Open(workspace).Get("w")
    poi, observables = w.var("r"), w.set("observables")
    if fit == "prefit":
        parameters = [var for var in w.set("nuisances")]
        poi.setVal(1.0)
        covariance = np.diag([var.getVal() if var.getAttribute("createPoissonConstraint") else 1.0
                              for var in parameters])
    else:
        result = tfile.Get(fit)
        w.allVars().assignValueOnly(result.floatParsFinal())
        if not result.floatParsFinal().find("r"):
            poi.setVal(0.0)
        parameters = [w.var(var.GetName()) for var in result.floatParsFinal()]
        matrix = result.covarianceMatrix()
        covariance = np.array([[matrix(i, j) for j in range(len(parameters))] for i in range(len(parameters))])
    model = w.pdf("model_s")
    norms, keep = [], []
    for label in (str(name) for name, _ in model.indexCat()):
        summed = next(c for c in model.getPdf(label).getComponents() if c.InheritsFrom("RooRealSumPdf"))
        functions, coefficients = summed.funcList(), summed.coefList()
        if functions.getSize() == 1 and functions.at(0).InheritsFrom("CMSHistErrorPropagator"):
            functions, coefficients = functions.at(0).wrapperList(), functions.at(0).coefList()
        for coefficient, function in zip(coefficients, functions):
            integral = function.createIntegral(function.getObservables(observables))
            norm = ROOT.RooProduct(f"{coefficient.GetName()}_norm", "", ROOT.RooArgList(integral, coefficient))
            keep += [integral, norm]
            norms.append((label, str(coefficient.getStringAttribute("combine.process")),
                          bool(coefficient.getAttribute("combine.signal")), norm))

    def values():
        return np.array([norm.getVal() for *_, norm in norms])

    nominal = values()
    widths = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    jacobian = np.zeros((len(parameters), len(norms)))
    for k, var in enumerate(parameters):
        centre, step = var.getVal(), 1e-3 * (widths[k] or 1.0)
        var.setVal(centre + step)
        up = values()
        var.setVal(centre - step)
        jacobian[k] = (up - values()) / (2 * step)
        var.setVal(centre)
    out = {}
    for channel in dict.fromkeys(label for label, *_ in norms):
        columns = [k for k, (label, *_) in enumerate(norms) if label == channel]
        for k in columns:
            out.setdefault(channel, {})[norms[k][1]] = [nominal[k], float(np.sqrt(jacobian[:, k] @ covariance @ jacobian[:, k]))]
        background = [k for k in columns if not norms[k][2]]
        gradient = jacobian[:, background].sum(axis=1)
        out[channel]["total_background"] = [float(nominal[background].sum()), float(np.sqrt(gradient @ covariance @ gradient))]
    return out


def singles(run, options, workspace="workspace.root"):
    """[low, best, high] of r from ``-M MultiDimFit --algo singles`` (its rows at quantiles -1,
    -0.32 and 0.32)."""
    output, _ = run.combine("MultiDimFit", "--algo", "singles", *options, workspace=workspace)
    rows = dict(limit_tree(run.path(output), ("quantileExpected", "r")))
    return [rows[min(rows, key=lambda q: abs(q - quantile))] for quantile in (-0.32, -1.0, 0.32)]


def scan_crossings(points, best, level):
    """(low, high) where 2 delta NLL crosses ``level``, as plot1DScan.py reads them: ROOT's
    TSpline3 through the grid's points and the best fit, crossings bisected between the
    points that bracket them (None where the scan does not reach one)."""
    import ROOT

    r, values = zip(*sorted([tuple(point) for point in points] + [(best, 0.0)]))
    spline = ROOT.TSpline3("scan", array("d", r), array("d", values), len(r))
    low = high = None
    for k in range(len(r) - 1):
        a, b = values[k], values[k + 1]
        if (a - level) * (b - level) < 0:
            left, right = r[k], r[k + 1]
            for _ in range(60):
                middle = 0.5 * (left + right)
                if (spline.Eval(middle) - level) * (a - level) > 0:
                    left = middle
                else:
                    right = middle
            if r[k + 1] <= best:
                low = 0.5 * (left + right)
            elif high is None:
                high = 0.5 * (left + right)
    return low, high


def grid_scan(run, options, r_range, points, workspace="workspace.root"):
    """[[r, 2 delta NLL], ...] of ``-M MultiDimFit --algo grid`` over ``r_range``."""
    output, _ = run.combine("MultiDimFit", "--algo", "grid", "--points", str(points), "--rMin", number(r_range[0]),
                            "--rMax", number(r_range[1]), *options, workspace=workspace)
    rows = limit_tree(run.path(output), ("quantileExpected", "r", "deltaNLL"))
    return [[r, 2 * d] for q, r, d in rows if q != -1]


def reference_fits(run, toys, seed, points, groups, shapes=True):
    """Combine's commands after the limit on the workspace in ``run``'s directory, with the
    fit options of the limits' reference (tolerance 0.01, the Migrad fallback): FitDiagnostics
    (``--saveShapes --saveWithUncertainties`` with many toys for the uncertainties, or
    without the shapes: ``shapes``), MultiDimFit singles, combineTool's Impacts in its three
    steps, GoodnessOfFit saturated on the data and with ``toys`` toys, MultiDimFit grids
    (r's range: 4 errors of its singles on each side) with the ``groups`` frozen in turn and
    then every constrained nuisance (the breakdown, from the crossings of each grid)."""
    import ROOT

    options = fit_options()

    def fit_diagnostics(*extra):
        output, _ = run.combine("FitDiagnostics", *extra, *options)
        return ROOT.TFile.Open(run.path(output.replace("higgsCombine", "fitDiagnostics").split(".FitDiagnostics")[0]
                                        + ".root"))

    # Combine's yields with their uncertainties as it makes them by default (resampling the
    # covariance with 200 toys: about 5 % noise on each uncertainty) ...
    tfile = fit_diagnostics("--saveNormalizations", "--saveWithUncertainties")
    fits, quality = {}, {}
    for fit in ("fit_b", "fit_s"):
        fits[fit], quality[fit] = fit_result(tfile, fit)
    default_yields = {fit: fit_yields(tfile, fit) for fit in ("prefit", "fit_b", "fit_s")}
    # ... and, the careful run, propagated linearly through Combine's model with its covariance
    fit_yields_ = {fit: propagated_yields(run.path("workspace.root"), tfile, fit) for fit in ("prefit", "fit_b", "fit_s")}
    tfile.Close()
    if shapes:  # the background sums per bin, from the shapes (without their resampling: a histogram per toy)
        tfile = fit_diagnostics("--saveShapes")
        for fit in ("prefit", "fit_b", "fit_s"):
            for channel, values in fit_yields(tfile, fit).items():
                if "total_background" in values:
                    fit_yields_[fit].setdefault(channel, {})["total_background_bins"] = values["total_background"][0]
        tfile.Close()
    r = singles(run, options)
    for step in (["--doInitialFit"], ["--doFits"], ["-o", "impacts.json"]):
        run.run(["combineTool.py", "-M", "Impacts", "-d", "workspace.root", "-m", "120", *step, *options])
    impacts = json.load(open(run.path("impacts.json")))
    gof_data, _ = run.combine("GoodnessOfFit", "--algo", "saturated", *options)
    gof_toys, _ = run.combine("GoodnessOfFit", "--algo", "saturated", "-t", str(toys), "-s", str(seed), *options)
    statistic = limit_tree(run.path(gof_data))[0][1]
    # a run with toys names its output by its seed too
    toy_values = [value for _, value in limit_tree(run.path(gof_toys.replace(".root", f".{seed}.root")))]
    r_range = (max(0.0, r[1] - SCAN_WIDTH * (r[1] - r[0])), r[1] + SCAN_WIDTH * (r[2] - r[1]))
    scan = grid_scan(run, options, r_range, points)
    snapshot, _ = run.combine("MultiDimFit", "--saveWorkspace", *options)
    frozen, breakdown, previous = [], {}, (r[1] - r[0], r[2] - r[1])
    for group in list(groups) + ["statistical"]:
        freeze = ["--freezeParameters", "allConstrainedNuisances"] if group == "statistical" else \
            ["--freezeNuisanceGroups", ",".join(frozen + [group])]
        frozen.append(group)
        points_frozen = grid_scan(run, ["--snapshotName", "MultiDimFit", *freeze, *options], r_range, points,
                                  workspace=snapshot)
        low, high = scan_crossings(points_frozen, r[1], 1.0)
        errors = (r[1] - (low if low is not None else r_range[0]), (high if high is not None else r_range[1]) - r[1])
        breakdown[group] = {"down": errors[0], "up": errors[1]} if group == "statistical" else {
            "down": math.sqrt(max(previous[0] ** 2 - errors[0] ** 2, 0.0)),
            "up": math.sqrt(max(previous[1] ** 2 - errors[1] ** 2, 0.0))}
        previous = errors
    return {"fit_diagnostics": {"fits": fits, "quality": quality, "yields": fit_yields_,
                                "default_yields": default_yields},
            "singles": r,
            "impacts": impacts,
            "gof": {"statistic": statistic, "toys": toy_values, "seed": seed,
                    "p_value": sum(v >= statistic for v in toy_values) / len(toy_values)},
            "scan": {"range": list(r_range), "points": scan,
                     "intervals": {"68": list(scan_crossings(scan, r[1], 1.0)),
                                   "95": list(scan_crossings(scan, r[1], 3.84))}},
            "breakdown": breakdown}


def card_groups(card):
    """The card's groups of nuisances, in its order, and Combine's autoMCStats where it has one."""
    groups = []
    for line in open(card):
        words = line.split("#")[0].split()
        if len(words) > 2 and words[1] == "group" and words[0] not in groups:
            groups.append(words[0])
        if len(words) > 1 and words[1] == "autoMCStats" and "autoMCStats" not in groups:
            groups.append("autoMCStats")
    return [g for g in groups if g != "autoMCStats"] + (["autoMCStats"] if "autoMCStats" in groups else [])


def combine_card(card, limit_options, tmet_limits=None, fits=None):
    """Combine's results for one card (steps 1-5 of the module docstring); with
    ``tmet_limits`` ({key: r}) also Combine's CLs at each of them (its --singlePoint); with
    ``fits`` ({toys, seed, points, shapes}) also its results after the limit (reference_fits)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Card(card, tmp)
        run.run(["text2workspace.py", run.card, "-o", "workspace.root"])
        if fits:
            after_the_limit = reference_fits(run, groups=card_groups(card), **fits)
        result = reference_limits(run, limit_options)
        significance, significances = reference_significance(run)
        cls = {}
        for key, r in (tmet_limits or {}).items():
            if key in KEYS and r is not None:
                output, _ = run.combine("AsymptoticLimits", "--singlePoint", repr(r), "--rMax",
                                        number(result["r_max"]), *fit_options(), *limit_options)
                cls[key] = {"r": r, "cls": by_key(run.path(output))[key]}
    result.update(significance=significance, significance_by_tolerance=significances, commands=run.commands,
                  combine_version=run.version)
    if cls:
        result["cls_at"] = cls
    if fits:
        result["fits"] = after_the_limit
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="JSON file to write")
    parser.add_argument("cards", nargs="+", help="Combine shape cards")
    parser.add_argument("--limit-options", default="", help="extra options of every combine -M AsymptoticLimits "
                                                            "command after the first")
    parser.add_argument("--fits", action="store_true", help="also Combine's results after the limit: "
                        "FitDiagnostics, MultiDimFit singles and grids, Impacts, GoodnessOfFit")
    parser.add_argument("--toys", type=int, default=500, help="GoodnessOfFit toys (--fits); default: 500")
    parser.add_argument("--seed", type=int, default=123456, help="GoodnessOfFit's seed (--fits); default: 123456")
    parser.add_argument("--points", type=int, default=50, help="points of the grids (--fits); default: 50")
    parser.add_argument("--no-shapes", action="store_true", help="FitDiagnostics without --saveShapes (--fits): "
                        "the process yields' uncertainties without the channels' background sums, for cards whose "
                        "shapes Combine resamples too slowly")
    parser.add_argument("--cls-at", metavar="LIMITS_JSON",
                        help="also Combine's CLs (its --singlePoint) at the limits of a Limits output (limits.json: "
                             "{signal: limits}, a card's signal being the name of its directory)")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("combine", "text2workspace.py") + (("combineTool.py",) if args.fits else ())
               if shutil.which(tool) is None]
    if missing:
        sys.exit(f"combine_reference: {' and '.join(missing)} not on PATH: build CMS Combine "
                 "(cms-analysis/HiggsAnalysis-CombinedLimit) against this ROOT and put its bin/ on PATH")
    base = os.path.dirname(os.path.abspath(args.output))
    tmet = json.load(open(args.cls_at)) if args.cls_at else {}
    results = {}
    for card in args.cards:
        name = os.path.relpath(os.path.abspath(card), base)
        fits = {"toys": args.toys, "seed": args.seed, "points": args.points, "shapes": not args.no_shapes} \
            if args.fits else None
        results[name] = combine_card(card, shlex.split(args.limit_options),
                                     tmet.get(os.path.basename(os.path.dirname(os.path.abspath(card)))), fits)
        print(f"{card}: {results[name]['limits']}, significance {results[name]['significance']}", flush=True)
    with open(args.output, "w") as out:
        json.dump(results, out, indent=1, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
