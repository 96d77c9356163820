"""Real CMS NanoAOD and real POG correction files (tests/data, see its README): normalisation
from genEventSumw, the legacy genEventSumw_ and files without Runs; category counts against
an independent uproot/awkward selection; JME's jet ID of NanoAODv13 with the real jetid.json;
and `law run Datacard` end to end on a test config of real files."""

import json
import os
import re

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from analysis.physics.histograms import make_histograms
from analysis.physics.skim import file_branches, skim_files, weight_sums
from analysis.physics.weights import normalization
from config import campaigns
from config.analysis import build_config
from tests.conftest import REPO, copy_of_repository, law_run, outputs_in, readme_example, repository_env

DATA = os.path.join(REPO, "tests", "data")
NANO = os.path.join(DATA, "nanoaod")
POG = os.path.join(DATA, "pog")
TOP_BRANCHES = ("pt", "eta", "phi", "mass", "score", "type")
# the MET filters every test file carries (the 2015 open-data file has only these)
FILTERS = ["Flag_goodVertices", "Flag_HBHENoiseFilter", "Flag_HBHENoiseIsoFilter",
           "Flag_EcalDeadCellTriggerPrimitiveFilter", "Flag_eeBadScFilter"]


def with_top_candidates(source, target, branches, seed):
    """``source`` reduced to ``branches`` (as the analysis reads them) plus seeded stand-ins for
    the first step's top candidates (TopCand_*), which real NanoAOD lacks; Runs copied whole."""
    with uproot.open(source) as f:
        events = f["Events"].arrays([b for b in branches if not b.startswith(("TopCand_", "nTopCand"))])
        runs = f["Runs"].arrays() if "Runs" in f else None
    rng = np.random.default_rng(seed)
    counts = rng.poisson(1.5, len(events))
    n = int(counts.sum())
    tops = {"pt": 150 + rng.exponential(150, n), "eta": rng.normal(0, 1.3, n), "phi": rng.uniform(-np.pi, np.pi, n),
            "mass": rng.normal(172.5, 15, n), "score": rng.uniform(0, 1, n) ** 0.5, "type": rng.integers(0, 3, n)}
    columns = {"TopCand": ak.zip({k: ak.unflatten(v.astype(np.int32 if k == "type" else np.float32), counts)
                                  for k, v in tops.items()})}
    groups = {}
    for name in events.fields:
        prefix, _, field = name.partition("_")
        if name.startswith("n") and name[1:] in {b.partition("_")[0] for b in events.fields}:
            continue  # counters are written with their collection
        if field and events[name].ndim > 1:
            groups.setdefault(prefix, {})[field] = events[name]
        else:
            columns[name] = events[name]
    columns.update({prefix: ak.zip(fields) for prefix, fields in groups.items()})
    with uproot.recreate(target) as f:
        write_tree(f, "Events", columns)
        if runs is not None:
            # counters are written with their arrays (e.g. LHEScaleSumw, with nLHEScaleSumw)
            write_tree(f, "Runs", {name: runs[name] for name in runs.fields
                                   if not (name.startswith("n") and name[1:] in runs.fields)})
    return target


def write_tree(f, name, columns):
    """A TTree of ``columns`` (jagged records become NanoAOD's counter + leaf-array branches)."""
    f.mktree(name, {k: v.type if isinstance(v, ak.Array) and v.ndim > 1 else ak.to_numpy(v).dtype
                    for k, v in columns.items()})
    f[name].extend(columns)


@pytest.fixture(scope="module")
def run2(tmp_path_factory, monkeypatch_module):
    """A run2_2018 config of the real test files (a datasets YAML with settings), built in
    this process, and the reduced files with their top-candidate stand-ins."""
    base = tmp_path_factory.mktemp("real")
    datasets = {
        "dy_ul17": ("mc_ul17_dy.root", "wjets", False),
        "dy_legacy": ("mc_102x_dy_legacy_runs.root", "ttz", False),
        "tt_no_runs": ("mc_2015_ttbar_no_runs.root", "tt_sl", False),
        "zero_events": ("mc_ul17_zero_events.root", "ttw", False),
        "signal": ("mc_ul17_dy.root", "tdm_ps_m500", False),
        "data_2018a": ("data_2018a_doublemuon.root", "data", True),
    }
    content = {"settings": {"triggers": [], "lumi_mask": None, "met_filters": FILTERS}, "datasets": {}}
    for name, (file_name, process, is_data) in datasets.items():
        # the files hold stand-ins of the group's STEP 1 outputs (with_top_candidates)
        content["datasets"][name] = {"process": process, "data": is_data, "files": [str(base / f"{name}.root")],
                                     "top_candidates": "in_files", "step1_preselection": "none"}
    content["datasets"]["dy_legacy"]["nano_version"] = 6
    # the 2015 file stores no parton-shower weights (nPSWeight = 1)
    content["datasets"]["tt_no_runs"]["missing_weights"] = ["PSWeight"]
    path = base / "real.yaml"
    path.write_text(yaml.safe_dump(content))
    monkeypatch_module.setenv("TMET_DATASETS_RUN2_2018", str(path))
    monkeypatch_module.setenv("TMET_POG_ROOT", POG)
    config = build_config("run2_2018", campaigns.ul2018())
    for seed, (name, (file_name, _, is_data)) in enumerate(datasets.items()):
        branches = file_branches(config, is_data, config.get_dataset(name).x.nano_version)
        with_top_candidates(os.path.join(NANO, file_name), str(base / f"{name}.root"), branches, seed)
    return config, base, path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_settings_empty_the_triggers_and_disable_the_lumi_mask(run2):
    config, _, _ = run2
    assert config.x.triggers == [] and config.x.lumi_mask is None
    assert config.x.met_filters == {"mc": FILTERS, "data": FILTERS}


@pytest.mark.parametrize("name, branch", [("dy_ul17", "genEventSumw"), ("dy_legacy", "genEventSumw_"),
                                          ("tt_no_runs", None)])
def test_normalisation_from_runs_or_generator_weights(run2, tmp_path, name, branch):
    config, base, _ = run2
    dataset = config.get_dataset(name)
    source = str(base / f"{name}.root")
    result = skim_files([source], str(tmp_path / "skim.root"), config, False, dataset.x.nano_version,
                        missing_weights=dataset.x.missing_weights)
    with uproot.open(source) as f:
        weights = f["Events"]["genWeight"].array(library="np").astype(float)
        expected = f["Runs"][branch].array(library="np").sum() if branch else weights.sum()
        if branch:
            runs_sums = f["Runs"]["LHEScaleSumw" + branch[len("genEventSumw"):]].array(library="np")[0]
        lhe = f["Events"]["LHEScaleWeight"].array(library="np")
    assert result.sources[source]["sumw"] == (branch or "genWeight")
    sums = weight_sums([str(tmp_path / "skim.root")])
    assert sums.sumw == pytest.approx(expected, rel=1e-12)
    # the sums that normalise the muR and muF templates: the Runs sums (v7 and later: divided by
    # genEventSumw; the 102X legacy ones by another constant, undone by their nominal entry), or
    # the events' sums where the file has no Runs
    if branch:
        lhe_sums = np.asarray(runs_sums) / runs_sums[4] * expected
    else:
        lhe_sums = np.array([sum(w * float(l[i]) for w, l in zip(weights, lhe)) for i in range(9)])
    np.testing.assert_allclose(sums.arrays["LHEScaleWeight"], lhe_sums, rtol=1e-6)
    assert result.sources[source]["LHEScaleWeight"] == ("genWeight" if branch is None else
                                                       "LHEScaleSumw" + branch[len("genEventSumw"):])
    mur_up = config.get_shift("mur_up")
    assert sums.of(mur_up) == pytest.approx(lhe_sums[7], rel=1e-6) and sums.of(config.get_shift("jes_up")) == sums.sumw
    xsec = dataset.processes.get_first().get_xsec(13).nominal
    assert normalization(config, dataset, sums.sumw) * expected == pytest.approx(config.x.luminosity.nominal * xsec,
                                                                           rel=1e-12)


def test_zero_event_file_gives_an_empty_skim_with_its_runs(run2, tmp_path):
    config, base, _ = run2
    result = skim_files([str(base / "zero_events.root")], str(tmp_path / "skim.root"), config, False)
    assert (result.events_in, result.events_out) == (0, 0)
    with uproot.open(str(tmp_path / "skim.root")) as f:
        assert f["Events"].num_entries == 0 and f["Runs"]["genEventSumw"].array(library="np").sum() > 0


RELAXED = {
    "r_any": ["met > 0"],
    "r_0l": ["met > 0", "n_lep_veto == 0"],
    "r_lep": ["n_lep_veto >= 1", "n_jet >= 1"],
    "r_1l_mt": ["n_lep_tight >= 1", "mt > 30"],
    "r_b": ["n_bjet >= 1", "min_dphi > 0.4"],
    "r_top": ["top_tagged", "ht > 50"],
}


def independent_counts(path, config):
    """Events per relaxed category, from the definitions of docs/physics.md with awkward."""
    objects = config.x.objects
    with uproot.open(path) as f:
        e = f["Events"].arrays()
    passed = np.ones(len(e), bool)
    for flag in config.x.met_filters["data"]:
        passed &= e[flag].to_numpy()
    skim = config.x.skim
    passed &= (e.MET_pt.to_numpy() > skim["met_min"]) & (ak.sum(e.Jet_pt > skim["jet_pt_min"], axis=1).to_numpy()
                                                         >= skim["n_jet_min"])
    mu_v, mu_t = objects["muon_veto"], objects["muon_tight"]
    el_v, el_t = objects["electron_veto"], objects["electron_tight"]

    def muons(c):
        return (e.Muon_pt > c["pt"]) & (abs(e.Muon_eta) < c["abseta"]) & e[c["id"]] & (e.Muon_pfRelIso04_all < c["iso"])

    def electrons(c):
        return (e.Electron_pt > c["pt"]) & (abs(e.Electron_eta) < c["abseta"]) & (e.Electron_cutBased >= c["cut_based"])

    veto_mu, veto_el, tight_mu, tight_el = muons(mu_v), electrons(el_v), muons(mu_t), electrons(el_t)
    n_veto = ak.sum(veto_mu, axis=1) + ak.sum(veto_el, axis=1)
    n_tight = ak.sum(tight_mu, axis=1) + ak.sum(tight_el, axis=1)
    lep_eta = ak.concatenate([e.Muon_eta[veto_mu], e.Electron_eta[veto_el]], axis=1)
    lep_phi = ak.concatenate([e.Muon_phi[veto_mu], e.Electron_phi[veto_el]], axis=1)
    jet = objects["jet"]
    pairs_eta = ak.cartesian([e.Jet_eta, lep_eta], nested=True)
    pairs_phi = ak.cartesian([e.Jet_phi, lep_phi], nested=True)
    dphi = (pairs_phi["0"] - pairs_phi["1"] + np.pi) % (2 * np.pi) - np.pi
    clean = ak.all((pairs_eta["0"] - pairs_eta["1"]) ** 2 + dphi ** 2 > jet["lepton_dr"] ** 2, axis=2)
    sel = (e.Jet_pt > jet["pt"]) & (abs(e.Jet_eta) < jet["abseta"]) & ((e.Jet_jetId & jet["id_bit"]) != 0) & clean
    n_jet = ak.sum(sel, axis=1)
    n_bjet = ak.sum(sel & (e[objects["btag"]["branch"]] > objects["btag"]["value"]), axis=1)
    ht = ak.sum(e.Jet_pt[sel], axis=1)
    jphi = e.Jet_phi[sel][:, :jet["min_dphi_jets"]]
    dphi_met = abs((jphi - e.MET_phi + np.pi) % (2 * np.pi) - np.pi)
    min_dphi = ak.fill_none(ak.min(dphi_met, axis=1), 999.0)
    lep_pt = ak.concatenate([e.Muon_pt[tight_mu], e.Electron_pt[tight_el]], axis=1)
    tphi = ak.concatenate([e.Muon_phi[tight_mu], e.Electron_phi[tight_el]], axis=1)
    lead = ak.argmax(lep_pt, axis=1, keepdims=True)
    pt0, phi0 = ak.fill_none(ak.firsts(lep_pt[lead]), 0.0), ak.fill_none(ak.firsts(tphi[lead]), 0.0)
    mt = np.sqrt(np.maximum(0, 2 * pt0 * e.MET_pt * (1 - np.cos(phi0 - e.MET_phi))))
    mt = ak.where(ak.num(lep_pt) > 0, mt, 0.0)
    top_score = ak.fill_none(ak.max(e.TopCand_score, axis=1), -1.0)
    columns = {"met": e.MET_pt, "n_lep_veto": n_veto, "n_lep_tight": n_tight, "n_jet": n_jet, "n_bjet": n_bjet,
               "ht": ht, "min_dphi": min_dphi, "mt": mt, "top_tagged": top_score > config.x.top_tagger["working_point"]}
    counts = {}
    for category, cuts in RELAXED.items():
        mask = passed.copy()
        for cut in cuts:
            mask &= np.asarray(eval(cut, {}, {k: ak.to_numpy(v) for k, v in columns.items()}))
        counts[category] = int(mask.sum())
    return counts


def test_data_category_counts_equal_an_independent_selection(run2, tmp_path):
    config, base, path = run2
    relaxed = build_config("run2_2018", campaigns.ul2018())
    relaxed.x.skim = {"met_min": 0.0, "jet_pt_min": 0.0, "n_jet_min": 0}
    relaxed.clear_categories()
    for category_id, (name, cuts) in enumerate(RELAXED.items(), start=1):
        relaxed.add_category(name=name, id=category_id, selection=list(cuts))
    source = str(base / "data_2018a.root")
    skim = str(tmp_path / "skim.root")
    skim_files([source], skim, relaxed, True, 6)
    hists = make_histograms([skim], relaxed, True, None, [relaxed.get_shift("nominal")], threads=1)["nominal"]
    counts = {name: int(hists[(name, "met")].entries) for name in RELAXED}
    assert counts == independent_counts(source, relaxed)
    # the comparison is meaningful: most categories are populated, and differently
    assert sum(n > 0 for n in counts.values()) >= 5 and len(set(counts.values())) >= 5, counts


def test_run3_v13_jet_id_from_the_real_jetid_json(tmp_path, monkeypatch):
    """NanoAODv13's stored Jet_jetId is not used: the skim's jet ID is JME's jetid.json,
    evaluated here independently with correctionlib on the same jets."""
    import correctionlib

    monkeypatch.setenv("TMET_POG_ROOT", POG)
    path = tmp_path / "run3.yaml"
    source = os.path.join(NANO, "mc_run3_v13_ggh.root")
    path.write_text(yaml.safe_dump({"settings": {"triggers": [], "lumi_mask": None, "met_filters": FILTERS},
                                    "datasets": {"tt_sl": {"process": "tt_sl", "data": False, "nano_version": 13,
                                                           "files": [source]}}}))
    monkeypatch.setenv("TMET_DATASETS_RUN3_2022", str(path))
    config = build_config("run3_2022", campaigns.run3_2022())
    config.x.skim = {"met_min": 0.0, "jet_pt_min": 0.0, "n_jet_min": 0}
    reduced = with_top_candidates(source, str(tmp_path / "v13.root"), file_branches(config, False, 13), 7)
    skim = str(tmp_path / "skim.root")
    result = skim_files([reduced], skim, config, False, 13)
    assert result.events_out > 0
    from analysis.engine.root_setup import import_root

    kept = import_root().RDataFrame("Events", skim).AsNumpy(["event", "Jet_jetId"])
    got = np.concatenate([np.asarray(v) for v in kept["Jet_jetId"]])
    with uproot.open(source) as f:
        events = f["Events"].arrays(["event", "Jet_jetId", *(f"Jet_{k}" for k in (
            "eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity"))])
    events = events[np.isin(events["event"].to_numpy(), kept["event"])]
    jets = {k: ak.flatten(events[f"Jet_{k}"]).to_numpy().astype(float)
            for k in ("eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity")}
    stored = ak.flatten(events["Jet_jetId"]).to_numpy()
    jets["multiplicity"] = jets["chMultiplicity"] + jets["neMultiplicity"]
    cset = correctionlib.CorrectionSet.from_file(os.path.join(POG, "JME", "2022_Summer22", "jetid.json.gz"))
    expected = np.zeros(len(got), int)
    for bit, name in ((2, "AK4PUPPI_Tight"), (4, "AK4PUPPI_TightLeptonVeto")):
        corr = cset[name]
        expected += bit * (corr.evaluate(*[jets[v.name] for v in corr.inputs]) > 0.5)
    np.testing.assert_array_equal(got, expected)
    assert len(got) > 100 and np.any(got != stored)  # v13's stored flag differs from JME's


@pytest.fixture(scope="module")
def real_chain(run2, nanoaod, tmp_path_factory):
    """`law run Datacard`, `Limits` and `Plots` on the real test files, in a checkout edited as
    the README's cheat sheet says: a new signal region (sr_2b) and the dataset entry of a
    sample with its extension (tt_sl, the 2015 file's stand-in and a second one). The signal
    is tmet's STEP 1 output of generated events (the real files select too few for a limit)."""
    config, files, path = run2
    base = tmp_path_factory.mktemp("real_chain")
    repo = copy_of_repository(base)
    categories = repo / "config" / "categories.py"
    text = categories.read_text()
    end = text.index("\n}\n", text.index("CATEGORIES = {"))
    categories.write_text(text[:end] + "\n    " + readme_example("category") + "," + text[end:])
    content = yaml.safe_load(open(path))
    (name, entry), = readme_example("dataset").items()
    del content["datasets"]["tt_no_runs"]
    lists = base / "run2_2018_files"
    lists.mkdir()
    (lists / "tt_sl.txt").write_text(str(files / "tt_no_runs.root") + "\n")
    branches = file_branches(config, False, 9)
    (lists / "tt_sl_ext1.txt").write_text(with_top_candidates(os.path.join(NANO, "mc_2015_ttbar_no_runs.root"),
                                                              str(base / "tt_ext1.root"), branches, 99) + "\n")
    content["datasets"][name] = {**entry, "missing_weights": ["PSWeight"]}  # the 2015 file has no PS weights
    content["datasets"]["signal"] = {"process": "tdm_ps_m500", "data": False, "files": [nanoaod("tdm_ps_m500")],
                                     "top_candidates": "in_files", "nano_version": 9,
                                     "step1_preselection": dict(config.x.top_candidates["preselection"])}
    (base / "real.yaml").write_text(yaml.safe_dump(content))
    env = repository_env(base, repo, TMET_DATASETS_RUN2_2018=str(base / "real.yaml"), TMET_POG_ROOT=POG,
                         TMET_EXECUTOR="local")
    outputs = [law_run(env, *task, "--config", "run2_2018")
               for task in (("Datacard",), ("Limits",), ("Plots", "--variables", "n_jet"))]
    return env, outputs


def test_law_run_datacard_end_to_end_on_real_files(real_chain):
    env, [(code, out), *_] = real_chain
    assert code == 0, out
    # the sample and its extension: one dataset of both files, its two (Runs-less) files summed
    for part in ("tt_no_runs.root", "tt_ext1.root"):
        assert re.search(rf"{part} has no Runs sum of generator weights \(genEventSumw or genEventSumw_\): tt_sl is "
                         r"normalised with the sum of its events' genWeight", out), part
    assert outputs_in(os.path.join(env["TMET_STORE"], "Skim", "run2_2018", "tt_sl", "v1")) == ["skim_0.root",
                                                                                               "skim_1.root"]
    cards = os.path.join(env["TMET_STORE"], "Datacard", "run2_2018", "v1", "tdm_ps_m500")
    categories = ("sr_0l", "sr_1l", "cr_tt_1l", "cr_w_1l", "sr_2b")
    assert outputs_in(cards) == sorted([f"datacard_{c}.txt" for c in (*categories, "combined")]
                                       + [f"shapes_{c}.root" for c in (*categories, "combined")])
    # the dataset without events is in the cards, floored and reported
    card = open(os.path.join(cards, "datacard_combined.txt")).read()
    assert "floored: sr_0l/ttv: bins [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] of the nominal" in card
    efficiency = json.load(open(os.path.join(env["TMET_STORE"], "BTagEfficiency", "run2_2018", "zero_events", "v1",
                                             "btag_efficiency.json")))
    assert efficiency["corrections"][0]["name"] == "btag_efficiency"
    assert "zero_events: no selected jets in its skims" in out
    snapshot = os.path.join(env["TMET_STORE"], "Snapshot", "run2_2018", "zero_events", "v1", "snapshot__nominal.root")
    code, out = law_run(env, "Snapshot", "--config", "run2_2018", "--dataset", "zero_events")
    assert code == 0, out
    with uproot.open(snapshot) as f:
        assert f["Events"].num_entries == 0 and "weight" in f["Events"].keys()


def test_a_new_signal_region_is_blind_on_real_data(real_chain):
    """The README's sr_2b, added to the real config: its data reach no card, plot or limit."""
    env, [(code, out), (limits_code, limits_out), (plots_code, plots_out)] = real_chain
    assert code == 0 and limits_code == 0 and plots_code == 0, (out[-3000:], limits_out[-3000:], plots_out[-3000:])
    store = env["TMET_STORE"]
    cards = os.path.join(store, "Datacard", "run2_2018", "v1", "tdm_ps_m500")
    card = open(os.path.join(cards, "datacard_combined.txt")).read()
    assert "# observation Asimov (the background sum), not data: sr_0l (blinded), sr_1l (blinded), sr_2b (blinded)" in card
    data = os.path.join(store, "Histograms", "run2_2018", "data_2018a", "v1", "hists__nominal.root")
    with uproot.open(os.path.join(cards, "shapes_combined.root")) as f, uproot.open(data) as d:
        backgrounds = sum(f[f"sr_2b/{p}"].values() for p in ("tt", "wjets", "ttv"))
        np.testing.assert_allclose(f["sr_2b/data_obs"].values(), backgrounds, rtol=1e-9)
        assert np.any(d["sr_2b/met"].values() != f["sr_2b/data_obs"].values())  # which the data are not
        # a control region shows its data
        np.testing.assert_array_equal(f["cr_tt_1l/data_obs"].values(), d["cr_tt_1l/met"].values())
    limits = json.load(open(os.path.join(store, "Limits", "run2_2018", "v1", "limits.json")))
    assert limits["tdm_ps_m500"]["observed"] is None and limits["tdm_ps_m500"]["expected"] > 0
    totals = json.load(open(os.path.join(store, "Plots", "run2_2018", "n_jet", "v1", "stack_totals.json")))
    assert {c for c, shown in totals["data"].items() if shown["n_jet"] is None} == {"sr_0l", "sr_1l", "sr_2b"}
