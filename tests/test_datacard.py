"""End to end: `law run Datacard` on a tiny synthetic config; cards checked by a parser written
from the Combine documentation; reruns that follow the dependencies."""

import json
import math
import os
import re

import pytest
import uproot

from tests.conftest import law_run, outputs_in, tiny_law_env

DATASETS = ["tt_sl", "wjets", "znunu", "tdm_ps_m500", "tdm_ps_m1000", "data_met"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Environment and first-run output of `law run Datacard` on a tiny config in a temporary store."""
    env = tiny_law_env(tmp_path_factory.mktemp("chain"), DATASETS, events_per_file=2500, TMET_EXECUTOR="local")
    code, out = law_run(env, "Datacard")
    assert code == 0, out
    return env, os.path.join(env["TMET_STORE"], "Datacard", "run2_2018_synth", "v1")


def parse_card(path):
    """A shape datacard as described in the Combine documentation, checked for internal consistency."""
    lines = [line.split("#")[0].strip() for line in open(path)]
    lines = [line for line in lines if line and not line.startswith("---")]
    card = {"nuisances": {}, "shapes": [], "automcstats": None, "groups": {}}
    bins_rows = []
    process_rows = []
    for line in lines:
        words = line.split()
        key = words[0]
        if key in ("imax", "jmax", "kmax"):
            card[key] = words[1]
        elif key == "shapes":
            card["shapes"].append(words[1:])
        elif key == "bin":
            bins_rows.append(words[1:])
        elif key == "observation":
            card["observation"] = [float(x) for x in words[1:]]
        elif key == "process":
            process_rows.append(words[1:])
        elif key == "rate":
            card["rate"] = [float(x) for x in words[1:]]
        elif words[1] == "autoMCStats":
            card["automcstats"] = (words[0], float(words[2]))
        elif words[1] == "group":  # "name group = nuisance ...", Combine's groups of nuisances
            assert words[2] == "="
            card["groups"].setdefault(words[0], []).extend(words[3:])
        else:
            card["nuisances"][key] = (words[1], words[2:])
    card["bins"], columns = bins_rows
    names, indices = process_rows
    assert len(columns) == len(names) == len(indices) == len(card["rate"])
    card["columns"] = list(zip(columns, names, [int(i) for i in indices]))
    assert int(card["imax"]) == len(card["bins"]) == len(card["observation"])
    assert int(card["jmax"]) == len(set(names)) - 1
    assert set(columns) == set(card["bins"])
    for _, (kind, values) in card["nuisances"].items():
        assert kind in ("lnN", "shape")
        assert len(values) == len(card["columns"])
    grouped = [name for members in card["groups"].values() for name in members]
    assert sorted(grouped) == sorted(card["nuisances"])  # every nuisance in one group
    return card


def histogram(shapes, name):
    with uproot.open(shapes) as f:
        return f[name] if name in f else None


def test_cards_parse_and_match_shapes(chain):
    _, store = chain
    card_sets = outputs_in(store)
    assert card_sets == ["tdm_ps_m1000", "tdm_ps_m500"]
    for card_set in card_sets:
        files = outputs_in(os.path.join(store, card_set))
        assert "datacard_combined.txt" in files and "datacard_sr_0l.txt" in files
        for card_file in [f for f in files if f.endswith(".txt")]:
            path = os.path.join(store, card_set, card_file)
            header = open(path).read()
            assert "made by tmet" in header and "config run2_2018_synth" in header and "version v1" in header
            card = parse_card(path)
            assert card["automcstats"] == ("*", 10.0)
            assert all(rate == -1 for rate in card["rate"])
            for _, process, index in card["columns"]:
                assert (index <= 0) == (process == card_set), (process, index)
            assert card["nuisances"]["lumi"][1][0] == "1.0250"
            shape_line = card["shapes"][0]
            assert shape_line[:2] == ["*", "*"] and shape_line[3:] == ["$CHANNEL/$PROCESS",
                                                                         "$CHANNEL/$PROCESS_$SYSTEMATIC"]
            shapes = os.path.join(store, card_set, shape_line[2])
            with uproot.open(shapes) as f:
                for bin_name, observed in zip(card["bins"], card["observation"]):
                    data = f[f"{bin_name}/data_obs"]
                    assert observed == pytest.approx(data.values().sum(), rel=1e-5)
                    edges = data.axis().edges()
                    for column_bin, process, _ in card["columns"]:
                        if column_bin != bin_name:
                            continue
                        names = [f"{bin_name}/{process}"]
                        for nuisance, (kind, values) in card["nuisances"].items():
                            if kind == "shape":
                                assert values[card["columns"].index((column_bin, process, _))] == "1"
                                names += [f"{bin_name}/{process}_{nuisance}Up", f"{bin_name}/{process}_{nuisance}Down"]
                        for name in names:
                            hist = f[name]
                            assert list(hist.axis().edges()) == list(edges), name
                            values_ = hist.values()
                            assert not any(math.isnan(v) for v in values_), name
                            assert all(v >= 0 for v in values_), name
                    # every shape source of the config is a shape nuisance
                    shape_sources = {n for n, (k, _) in card["nuisances"].items() if k == "shape"}
                    assert {"jes", "jer", "met_uncl", "pu", "btag", "lep", "toptag", "mur", "muf", "isr",
                            "fsr"} == shape_sources


def test_yields_table(chain):
    env, store = chain
    code, out = law_run(env, "Yields")
    assert code == 0, out
    yields_dir = os.path.join(env["TMET_STORE"], "Yields", "run2_2018_synth", "v1")
    table = json.load(open(os.path.join(yields_dir, "yields.json")))
    assert "| process |" in open(os.path.join(yields_dir, "yields.md")).read()
    with uproot.open(os.path.join(store, "tdm_ps_m500", "shapes_sr_1l.root")) as f:
        assert table["sr_1l"]["tt"]["nominal"] == pytest.approx(f["sr_1l/tt"].values().sum(), rel=1e-9)
        assert table["sr_1l"]["data_obs"]["nominal"] == pytest.approx(f["sr_1l/data_obs"].values().sum())
    assert set(table["sr_1l"]["tt"]["uncertainties"]) >= {"stat", "jes", "lumi", "xsec_tt"}


def test_reruns_follow_dependencies(chain):
    env, _ = chain
    code, out = law_run(env, "Datacard")
    assert code == 0 and "ran successfully" not in out and "complete ones were encountered" in out
    removed = os.path.join(env["TMET_STORE"], "Histograms", "run2_2018_synth", "wjets", "v1", "hists__jes_up.root")
    os.remove(removed)
    code, out = law_run(env, "Datacard", "--print-status", "1,0")
    assert code == 0 and "Datacard(version=v1, config=run2_2018_synth, out-of-date: inputs)" in out, out
    code, out = law_run(env, "Datacard")
    assert code == 0, out
    assert "* 2 ran successfully:\n    - 1 Datacard(...)\n    - 1 Histograms(...)" in out
    assert os.path.exists(removed)
    # a remade skim branch makes what depends on it out of date, and only that
    skim = os.path.join(env["TMET_STORE"], "Skim", "run2_2018_synth", "znunu", "v1", "skim_0.root")
    os.utime(skim)
    code, out = law_run(env, "Datacard")
    assert code == 0, out
    assert "* 3 ran successfully:\n    - 1 BTagEfficiency(...)\n    - 1 Datacard(...)\n    - 1 Histograms(...)" in out


def test_plots_stack_totals_equal_yields(chain):
    env, _ = chain
    for task in (("Yields",), ("Plots", "--variables", "met,n_jet")):
        code, out = law_run(env, *task)
        assert code == 0, out
    plots = os.path.join(env["TMET_STORE"], "Plots", "run2_2018_synth", "met__n_jet", "v1")
    yields = json.load(open(os.path.join(env["TMET_STORE"], "Yields", "run2_2018_synth", "v1", "yields.json")))
    totals = json.load(open(os.path.join(plots, "stack_totals.json")))
    backgrounds = ["tt", "wjets", "znunu"]
    for category, row in yields.items():
        expected = sum(row[p]["nominal"] for p in backgrounds)
        assert sum(totals["stacks"][category]["met"]) == pytest.approx(expected, rel=1e-9)
        assert len(totals["stacks"][category]["n_jet"]) == 8
        # synthetic data: nothing blinded, the data drawn are data_obs
        assert sum(totals["data"][category]["met"]) == pytest.approx(row["data_obs"]["nominal"], rel=1e-9)
        for name in ("met", "n_jet", "shift_jes", "shift_fsr"):
            for ext in ("png", "pdf"):
                path = os.path.join(plots, category, f"{name}.{ext}")
                assert os.path.getsize(path) > 5000, path
    assert not os.path.exists(os.path.join(plots, "sr_0l", "ht.png"))


def test_limits_task(chain):
    env, _ = chain
    code, out = law_run(env, "Limits")
    assert code == 0, out
    limits_dir = os.path.join(env["TMET_STORE"], "Limits", "run2_2018_synth", "v1")
    limits = json.load(open(os.path.join(limits_dir, "limits.json")))
    assert sorted(limits) == ["tdm_ps_m1000", "tdm_ps_m500"]
    for values in limits.values():
        assert 0 < values["minus2"] < values["minus1"] < values["expected"] < values["plus1"] < values["plus2"]
        assert values["observed"] > 0 and values["significance"] > 0
    # a lighter mediator has the larger cross section and the stronger limit
    assert limits["tdm_ps_m500"]["expected"] < limits["tdm_ps_m1000"]["expected"]
    assert os.path.getsize(os.path.join(limits_dir, "limits.png")) > 5000


def test_scale_variations_keep_the_inclusive_rate(chain):
    """Each muR/muF template is normalised with the sum of its weight over all generated events
    (the samples' Runs sums), so that it moves acceptance and shape only: the inclusive rate's
    scale uncertainty is the cross section's lnN alone."""
    env, _ = chain
    store = env["TMET_STORE"]
    runs = []
    for sample in sorted(os.listdir(os.path.join(store, "GenerateSample", "run2_2018_synth", "tt_sl", "v1"))):
        if sample.endswith(".root"):
            with uproot.open(os.path.join(store, "GenerateSample", "run2_2018_synth", "tt_sl", "v1", sample)) as f:
                runs.append(f["Runs"].arrays(["genEventSumw", "LHEScaleSumw"], library="np"))
    sumw = sum(r["genEventSumw"].sum() for r in runs)
    lhe = sum((r["LHEScaleSumw"][0] * r["genEventSumw"][0]) for r in runs)
    histograms = os.path.join(store, "Histograms", "run2_2018_synth", "tt_sl", "v1")
    recorded = {}
    for shift in ("nominal", "jes_up", "mur_up", "mur_down", "muf_up", "muf_down"):
        with uproot.open(os.path.join(histograms, f"hists__{shift}.root")) as f:
            recorded[shift] = f["tmet_sumw"].member("fVal")
    assert recorded["nominal"] == recorded["jes_up"] == pytest.approx(sumw, rel=1e-12)
    for shift, entry in (("mur_up", 7), ("mur_down", 1), ("muf_up", 5), ("muf_down", 3)):
        assert recorded[shift] == pytest.approx(lhe[entry], rel=1e-12), shift
    assert abs(lhe[7] / sumw - 1) > 0.02  # the generator's muR variation moves the inclusive rate


AFTER_THE_LIMIT = {
    "FitDiagnostics": ("fit_diagnostics.json", []),
    "Impacts": ("impacts.json", ["--exclude", "prop_bin.*"]),
    "GoodnessOfFit": ("gof.json", ["--toys", "20"]),
    "LikelihoodScan": ("scan.json", ["--points", "10"]),
}


def test_after_the_limit_one_law_run_each(chain):
    """FitDiagnostics, Impacts, GoodnessOfFit and LikelihoodScan on the cards: their JSON and
    figures per signal; a second run does nothing; a changed card reruns what reads it."""
    env, store = chain
    results = {}
    for task, (name, options) in AFTER_THE_LIMIT.items():
        code, out = law_run(env, task, *options)
        assert code == 0, out
        directory = os.path.join(env["TMET_STORE"], task, "run2_2018_synth", "v1")
        assert outputs_in(directory) == ["tdm_ps_m1000", "tdm_ps_m500"]
        results[task] = json.load(open(os.path.join(directory, "tdm_ps_m500", name)))
        assert results[task]["data"] == "observed"
        for figure in [f for f in outputs_in(os.path.join(directory, "tdm_ps_m500")) if f.endswith(".png")]:
            assert os.path.getsize(os.path.join(directory, "tdm_ps_m500", figure)) > 5000, figure
    diagnostics = results["FitDiagnostics"]
    r = diagnostics["fit_s"]["r"]
    assert r["error_up"] > 0 and set(diagnostics["fit_b"]["nuisances"]) >= {"lumi", "jes", "xsec_tt"}
    assert set(diagnostics["yields"]) == {"prefit", "fit_b", "fit_s"}
    assert set(diagnostics["yields"]["fit_s"]["sr_1l"]) >= {"tt", "tdm_ps_m500", "total_background"}
    impacts = results["Impacts"]
    assert impacts["POIs"][0]["name"] == "r" and impacts["POIs"][0]["fit"][1] == pytest.approx(r["value"], abs=1e-6)
    names = [p["name"] for p in impacts["params"]]
    assert "jes" in names and not any(n.startswith("prop_bin") for n in names)
    jes = impacts["params"][names.index("jes")]
    assert set(jes) >= {"fit", "r", "impact_r", "type", "prefit", "groups"} and jes["groups"] == ["experimental"]
    gof = results["GoodnessOfFit"]
    assert gof["algorithm"] == "saturated" and len(gof["toys"]) == 20 and 0 <= gof["p_value"] <= 1
    scan = results["LikelihoodScan"]
    assert len(scan["points"]) == 10 and scan["intervals"]["95"][1] > scan["intervals"]["68"][1] > scan["r"]
    assert set(scan["breakdown"]) == {"experimental", "theory", "luminosity", "autoMCStats", "statistical"}
    code, out = law_run(env, "LikelihoodScan", "--points", "10")
    assert code == 0 and "ran successfully" not in out, out
    os.utime(os.path.join(store, "tdm_ps_m500", "datacard_combined.txt"))  # a remade card, of the same content
    code, out = law_run(env, "LikelihoodScan", "--points", "10")
    assert code == 0 and "* 1 ran successfully:\n    - 1 LikelihoodScan(" in out, out


def card_set(store):
    """{file: its card text without comments, or its histograms' contents} of a Datacard output."""
    out = {}
    for signal in outputs_in(store):
        for name in outputs_in(os.path.join(store, signal)):
            path = os.path.join(store, signal, name)
            if name.endswith(".txt"):
                out[(signal, name)] = [line for line in open(path) if not line.startswith("#")]
            else:
                with uproot.open(path) as f:
                    out[(signal, name)] = {key: (f[key].values(flow=True).tolist(), f[key].variances(flow=True).tolist())
                                           for key, kind in f.classnames(cycle=False).items() if kind.startswith("TH1")}
    return out


def test_friend_files_give_the_cards_of_full_copies(chain):
    """top_candidates_output: friend (the YAML's settings) remakes STEP 1 as a friend file per
    input and the skims from the inputs with them: the cards are those of the full copies
    (their header line aside). A remade input makes its STEP 1 and skim out of date. Last in
    the module: it leaves the chain's store in friend mode."""
    import yaml

    env, store = chain
    full = card_set(store)
    datasets_file = env["TMET_DATASETS_RUN2_2018_SYNTH"]
    content = yaml.safe_load(open(datasets_file))
    content["settings"] = {**(content.get("settings") or {}), "top_candidates_output": "friend"}
    with open(datasets_file, "w") as f:
        yaml.safe_dump(content, f)
    code, out = law_run(env, "Datacard")
    assert code == 0, out
    step1 = os.path.join(env["TMET_STORE"], "TopCandidates", "run2_2018_synth", "tt_sl", "v1")
    assert "friends_0_0.root" in outputs_in(step1)
    friend = card_set(store)
    assert sorted(friend) == sorted(full) and len(full) > 10
    for key, value in full.items():
        assert friend[key] == value, key
    sample = os.path.join(env["TMET_STORE"], "GenerateSample", "run2_2018_synth", "tt_sl", "v1", "sample_0.root")
    os.utime(sample, (1, 1))
    code, out = law_run(env, "Skim", "--dataset", "tt_sl", "--branch", "0", "--print-status", "1")
    assert code == 0, out
    assert re.search(r"> Skim\(.*out-of-date: inputs\)", out) and re.search(r"> TopCandidates\(.*out-of-date: inputs\)", out), out
