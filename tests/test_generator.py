"""Generated NanoAOD: layout, reproducibility, data without MC-only branches, process shapes."""

import numpy as np
import pytest
import uproot

from analysis.engine.root_setup import import_root

EVENTS_BRANCHES_MC = [
    "run", "luminosityBlock", "event", "nMuon", "Muon_pt", "Muon_tightId", "Muon_looseId", "Muon_pfRelIso04_all",
    "nElectron", "Electron_pt", "Electron_cutBased", "nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass",
    "Jet_jetId", "Jet_btagDeepFlavB", "Jet_hadronFlavour", "MET_pt", "MET_phi", "MET_MetUnclustEnUpDeltaX",
    "MET_MetUnclustEnUpDeltaY", "genWeight", "Pileup_nTrueInt", "nLHEScaleWeight", "LHEScaleWeight",
    "nPSWeight", "PSWeight", "Jet_genTopIdx", "fixedGridRhoFastjetAll", "HLT_PFMETNoMu120_PFMHTNoMu120_IDTight",
    "Flag_goodVertices", "Flag_eeBadScFilter",
]


def test_nanoaod_layout(generate, config):
    path = generate("tt_sl")
    ROOT = import_root()
    tfile = ROOT.TFile.Open(path)
    events = tfile.Get("Events")
    for name in EVENTS_BRANCHES_MC:
        assert events.GetBranch(name), name
    # no top candidates: STEP 1 (TopCandidates) makes them
    assert not events.GetBranch("nTopCand") and not events.GetBranch("TopCand_score")
    # leaf arrays with their counters, as real NanoAOD (not RVec branch elements)
    assert events.GetLeaf("Jet_pt").GetLeafCount().GetName() == "nJet"
    assert events.GetLeaf("Jet_pt").GetTypeName() == "Float_t"
    assert events.GetLeaf("nJet").GetTypeName() == "UInt_t"
    assert events.GetLeaf("Muon_tightId").GetTypeName() == "Bool_t"
    assert events.GetLeaf("event").GetTypeName() == "ULong64_t"
    assert events.GetLeaf("LHEScaleWeight").GetLeafCount().GetName() == "nLHEScaleWeight"
    assert events.GetEntries() == 4000
    assert events.GetClusterIterator(0)() == 0
    tfile.Close()

    with uproot.open(path) as f:
        arrays = f["Events"].arrays(["nJet", "Jet_pt", "genWeight", "LHEScaleWeight", "PSWeight", "run",
                                     "luminosityBlock"])
        runs = f["Runs"].arrays(library="np")
        blocks = f["LuminosityBlocks"].arrays(library="np")
    # LuminosityBlocks as in NanoAOD: one entry per (run, block) of the file's events
    assert sorted(zip(blocks["run"], blocks["luminosityBlock"])) == sorted(
        set(zip(arrays["run"].to_numpy(), arrays["luminosityBlock"].to_numpy())))
    assert np.all(np.asarray([len(x) for x in arrays["Jet_pt"]]) == arrays["nJet"].to_numpy())
    assert set(np.unique([len(x) for x in arrays["LHEScaleWeight"]])) == {9}
    assert set(np.unique([len(x) for x in arrays["PSWeight"]])) == {4}
    w = arrays["genWeight"].to_numpy()
    # Runs as in NanoAOD: the sums of the events the file holds (the filter efficiency goes
    # with the cross section)
    assert runs["genEventSumw"][0] == pytest.approx(w.sum(), rel=1e-9)
    assert runs["genEventCount"][0] == len(w)


def test_negative_weight_share(generate, config):
    with uproot.open(generate("wjets")) as f:
        w = f["Events"]["genWeight"].array(library="np")
    expected = config.get_dataset("wjets").x.generator["neg_weight_fraction"]
    share = np.mean(w < 0)
    assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / len(w))


def test_reproducible(generate, tmp_path, config):
    from analysis.physics.generator import generate_file

    first = generate("tt_dl")
    again = str(tmp_path / "again.root")
    other = str(tmp_path / "other.root")
    dataset = config.get_dataset("tt_dl")
    generate_file(again, config, dataset, 0, n_events=4000)
    generate_file(other, config, dataset, 1, n_events=4000)
    with uproot.open(first) as a, uproot.open(again) as b, uproot.open(other) as c:
        keys = a["Events"].keys()
        assert keys == b["Events"].keys()
        for key in keys:
            x, y = a["Events"][key].array(), b["Events"][key].array()
            assert (x.tolist() == y.tolist()), key
        assert a["Events"]["MET_pt"].array().tolist() != c["Events"]["MET_pt"].array().tolist()


def test_data_has_no_mc_only_branches(generate, config):
    with uproot.open(generate("data_met")) as f:
        keys = set(f["Events"].keys())
        runs = set(f["Runs"].keys())
        run_numbers = f["Events"]["run"].array(library="np")
    for branch in config.x.mc_only_branches:
        assert branch not in keys
    assert "genEventSumw" not in runs
    # every branch the analysis reads but the top candidates, which STEP 1 adds
    assert {b for b in config.x.analysis_branches["all"] if not b.startswith(("nTopCand", "TopCand_"))} <= keys
    assert "nTopCand" not in keys
    low, high = config.x.generator_campaign["data_runs"]
    assert run_numbers.min() >= low and run_numbers.max() <= high


def test_processes_look_like_themselves(generate):
    def load(name):
        with uproot.open(generate(name)) as f:
            return f["Events"].arrays(["MET_pt", "nMuon", "nElectron", "Jet_hadronFlavour", "Jet_genTopIdx", "Jet_pt",
                                       "Jet_eta", "Jet_phi", "Jet_mass"])

    def prompt_leptons(a):
        return np.mean((a["nMuon"] + a["nElectron"]).to_numpy() > 0)

    def has_b(a):
        import awkward as ak
        return np.mean(ak.sum(a["Jet_hadronFlavour"] == 5, axis=1).to_numpy() > 0)

    def whole_tops(a):
        """The trijet masses of the generated tops all of whose three decay jets are in the event."""
        import awkward as ak

        masses = []
        for top in (0, 1):
            mine = a["Jet_genTopIdx"] == top
            whole = ak.num(a["Jet_pt"][mine]) == 3
            pt, eta, phi, m = (a[f"Jet_{k}"][mine][whole] for k in ("pt", "eta", "phi", "mass"))
            px, py, pz = ak.sum(pt * np.cos(phi), axis=1), ak.sum(pt * np.sin(phi), axis=1), ak.sum(pt * np.sinh(eta), axis=1)
            e = ak.sum(np.sqrt((pt * np.cosh(eta)) ** 2 + m ** 2), axis=1)
            masses.append(ak.to_numpy(np.sqrt(np.maximum(e ** 2 - px ** 2 - py ** 2 - pz ** 2, 0))))
        return np.concatenate(masses)

    signal, tt, wjets, znunu = (load(n) for n in ("tdm_ps_m1000", "tt_sl", "wjets", "znunu"))
    assert np.median(signal["MET_pt"]) > 1.5 * np.median(tt["MET_pt"])
    # hadronic tops: three jets whose mass is the top's (smeared), in top events only
    tops = whole_tops(tt)
    assert len(tops) > 0.3 * len(tt["MET_pt"]) and 160 < np.median(tops) < 180
    assert len(whole_tops(wjets)) == 0
    assert has_b(tt) > 0.9 and has_b(wjets) < 0.3
    assert prompt_leptons(tt) > 0.6 and prompt_leptons(wjets) > 0.6
    assert prompt_leptons(znunu) < 0.1
