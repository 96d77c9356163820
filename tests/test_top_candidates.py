"""STEP 1 (TopCandidates, analysis/physics/top_candidates.py) against the columnar peer of
../shared/peers/step1_columnar.py on generated and real NanoAOD, an RNTuple input against its
TTree twin, the NanoAOD it writes, and the errors raised before any event is read."""

import json
import os
import sys

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.errors import TmetError
from analysis.physics.top_candidates import COUNTER, OUTPUT, write_top_candidates
from tests.conftest import REPO

PEERS = os.path.join(os.path.dirname(REPO), "shared", "peers")
MODELS = os.path.join(REPO, "tests", "data", "models")
NANO = os.path.join(REPO, "tests", "data", "nanoaod")
TOP = ["nTopCand", "TopCand_jetIdx1", "TopCand_jetIdx2", "TopCand_jetIdx3", "TopCand_score", "TopCand_pt",
       "TopCand_mass"]


@pytest.fixture(scope="module")
def peer():
    if not os.path.exists(os.path.join(PEERS, "step1_columnar.py")):
        pytest.skip(f"the columnar peer is not at {PEERS}")
    sys.path.insert(0, PEERS)
    try:
        import step1_columnar
    finally:
        sys.path.remove(PEERS)
    return step1_columnar


def peer_candidates(peer, config, paths):
    tagger = config.x.top_tagger
    return peer.run(paths, peer.load_model(tagger["model"], tagger["scaler"]))


def assert_same_candidates(ours, theirs):
    """Events and candidates identical, scores within 1e-5 (tmet stores them as floats)."""
    assert np.array_equal(ak.to_numpy(ours["event"]), np.asarray(theirs["event"]))
    assert np.array_equal(ak.to_numpy(ours[COUNTER]), np.asarray(theirs[COUNTER]))
    for branch in ("TopCand_jetIdx1", "TopCand_jetIdx2", "TopCand_jetIdx3", "TopCand_type"):
        assert ak.all(ours[branch] == theirs[branch]), branch
    assert ak.max(abs(ours["TopCand_score"] - theirs["TopCand_score"]), axis=None) < 1e-5
    for field in ("pt", "mass"):
        assert ak.max(abs(ours[f"TopCand_{field}"] - theirs[f"TopCand_{field}"]) / theirs[f"TopCand_{field}"],
                      axis=None) < 1e-6


def test_candidates_equal_the_peers_and_the_output_is_nanoaod(generate, nanoaod, config, peer):
    source, output = generate("tt_sl"), nanoaod("tt_sl")
    theirs = peer_candidates(peer, config, [source])
    with uproot.open(output) as f, uproot.open(source) as g:
        events = f["Events"]
        ours = events.arrays(["event", *TOP, "TopCand_type"])
        assert_same_candidates(ours, theirs)
        assert ak.sum(ours[COUNTER]) > 0.5 * len(ours)  # candidates in most tt events
        # every input branch of the preselected events, unchanged, and the candidates as leaf arrays
        assert set(events.keys()) == set(g["Events"].keys()) | {COUNTER, *(b for b, _ in OUTPUT)}
        kept = np.isin(g["Events"]["event"].array(library="np"), ak.to_numpy(ours["event"]))
        for branch in ("Jet_pt", "Jet_genTopIdx", "MET_pt", "LHEScaleWeight", "Flag_goodVertices"):
            assert ak.all(g["Events"][branch].array()[kept] == events[branch].array()), branch
        assert events["Jet_pt"].title == "Jet_pt[nJet]/F" and events["TopCand_score"].title == "TopCand_score[nTopCand]/F"
        assert events["TopCand_jetIdx1"].title == "TopCand_jetIdx1[nTopCand]/I" and events[COUNTER].title == "nTopCand/i"
        # Runs and LuminosityBlocks copied whole; compressed as the config says (the synthetic
        # campaign: LZ4 1, as its samples)
        for tree in ("Runs", "LuminosityBlocks"):
            assert f[tree].arrays(library="np").keys() == g[tree].arrays(library="np").keys()
            assert f[tree].num_entries == g[tree].num_entries
        assert config.x.top_candidates_compression == {"algorithm": "LZ4", "level": 1} and f.file.fCompress == 401
        # the preselection it applied, for the skim to check, and the sums before it: of the
        # generator weights, and of them times each muR/muF weight (the generator's Runs sums)
        assert json.loads(f["tmet_step1_preselection"].member("fTitle")) == config.x.top_candidates["preselection"]
        runs = g["Runs"].arrays(library="np")
        assert f["tmet_sumw"].member("fVal") == pytest.approx(runs["genEventSumw"].sum(), rel=1e-12)
        np.testing.assert_allclose(np.asarray(f["tmet_sumw__LHEScaleWeight"].member("fElements")),
                                   runs["LHEScaleSumw"][0] * runs["genEventSumw"][0], rtol=1e-12)


def test_data_equals_the_peer(nanoaod, generate, config, peer):
    assert_same_candidates(uproot.open(nanoaod("data_met"))["Events"].arrays(["event", *TOP, "TopCand_type"]),
                           peer_candidates(peer, config, [generate("data_met")]))


@pytest.mark.parametrize("name, same_candidates, missing", [("mc_ul17_dy", True, []),
                                                            ("mc_2015_ttbar_no_runs", False, ["PSWeight"])])
def test_real_nanoaod_equals_the_peer_with_every_branch(config, peer, tmp_path, monkeypatch, name, same_candidates,
                                                       missing):
    """Real NanoAOD (v9 layout, over a thousand branches): few of its events have MET above
    STEP 1's cut, so both run without it here. The 2015 file has no DeepJet b tags (-3000 for
    every jet): its triplets' scores tie up to rounding, which the peer's numpy and tmet's C++
    break differently; its candidates are not compared, its branches are. It has no
    parton-shower weights either (one entry of 1), which its dataset must say."""
    from tasks.interactive import overrides

    real, output = os.path.join(NANO, f"{name}.root"), str(tmp_path / "out.root")
    relaxed = {**config.x.top_candidates, "preselection": {**config.x.top_candidates["preselection"], "met_min": 0.0}}
    monkeypatch.setattr(peer, "MET_MIN", 0.0)
    monkeypatch.setitem(config.get_dataset("tt_sl").aux, "missing_weights", missing)
    with overrides(values={"top_candidates": relaxed}):
        result = write_top_candidates([real], output, config, config.get_dataset("tt_sl"), nano_version=9)
    with uproot.open(output) as f, uproot.open(real) as g:
        ours = f["Events"].arrays(["event", *TOP, "TopCand_type"])
        assert result.events_out == len(ours) > 0 and ak.sum(ours[COUNTER]) > 0
        if same_candidates:
            assert_same_candidates(ours, peer_candidates(peer, config, [real]))
        # every branch of the real file, each with its values
        assert set(f["Events"].keys()) == set(g["Events"].keys()) | {COUNTER, *(b for b, _ in OUTPUT)}
        kept = np.isin(g["Events"]["event"].array(library="np"), ak.to_numpy(ours["event"]))
        for branch in g["Events"].keys():
            if g["Events"][branch].interpretation.__class__.__name__ in ("AsDtype", "AsJagged"):
                theirs, mine = g["Events"][branch].array()[kept], f["Events"][branch].array()
                if theirs.ndim > 1:
                    assert ak.all(ak.num(theirs) == ak.num(mine)), branch
                np.testing.assert_array_equal(ak.to_numpy(ak.flatten(mine, axis=None)),
                                              ak.to_numpy(ak.flatten(theirs, axis=None)), err_msg=branch)


def test_real_run3_file_with_the_jet_id_of_its_json(config, tmp_path, monkeypatch):
    """NanoAODv13 (its jet ID from JME's jetid.json) with every branch and the candidates;
    few of its events have MET above STEP 1's cut, so it runs without it."""
    from config import campaigns
    from config.analysis import build_config

    monkeypatch.setenv("TMET_POG_ROOT", os.path.join(REPO, "tests", "data", "pog"))
    run3 = build_config("run3_2022", campaigns.run3_2022())  # a config of this test's own
    run3.set_aux("top_candidates", {**run3.x.top_candidates,
                                    "preselection": {**run3.x.top_candidates["preselection"], "met_min": 0.0}})
    output = str(tmp_path / "ggh.root")
    result = write_top_candidates([os.path.join(NANO, "mc_run3_v13_ggh.root")], output, run3,
                                  run3.datasets.get_first(), nano_version=13)
    with uproot.open(output) as f:
        events = f["Events"]
        assert events.num_entries == result.events_out > 0
        assert set(events.keys()) >= {COUNTER, "TopCand_score", "Jet_pt"}
        assert f.file.fCompress == 209  # a real campaign's STEP 1: LZMA 9, as CMS writes NanoAOD


def test_rntuple_input_gives_the_candidates_of_its_ttree_twin(generate, nanoaod, config, tmp_path):
    from analysis.engine.root_setup import import_root

    ROOT = import_root()
    ntuple = str(tmp_path / "tt_rntuple.root")
    importer = ROOT.Experimental.RNTupleImporter.Create(generate("tt_sl"), "Events", ntuple)
    importer.SetIsQuiet(True)
    importer.Import()
    output = str(tmp_path / "from_rntuple.root")
    write_top_candidates([ntuple], output, config, config.get_dataset("tt_sl"))
    with uproot.open(output) as f, uproot.open(nanoaod("tt_sl")) as g:
        ours, twin = f["Events"], g["Events"]
        assert ours.num_entries == twin.num_entries
        assert set(ours.keys()) == set(twin.keys())
        for branch in (*TOP, "Jet_pt", "nJet", "event", "genWeight"):
            assert ak.all(ours[branch].array() == twin[branch].array()), branch
        assert ours["Jet_pt"].title == "Jet_pt[nJet]/F"  # NanoAOD's layout, also from an RNTuple
        # an RNTuple has no Runs: the sum of weights is recorded from its events
        assert f["tmet_sumw"].member("fVal") == pytest.approx(g["tmet_sumw"].member("fVal"), rel=1e-6)


def test_the_skim_reads_an_rntuple_with_candidates_as_its_ttree_twin(nanoaod, config, tmp_path):
    """A dataset whose files hold their candidates (top_candidates: in_files) as RNTuples."""
    from analysis.engine.root_setup import import_root
    from analysis.physics.skim import skim_files

    ROOT = import_root()
    ntuple = str(tmp_path / "step1_rntuple.root")
    importer = ROOT.Experimental.RNTupleImporter.Create(nanoaod("tt_sl"), "Events", ntuple)
    importer.SetIsQuiet(True)
    importer.Import()
    from_ntuple, from_tree = str(tmp_path / "a.root"), str(tmp_path / "b.root")
    a = skim_files([ntuple], from_ntuple, config, False)
    b = skim_files([nanoaod("tt_sl")], from_tree, config, False)
    assert (a.events_in, a.events_out) == (b.events_in, b.events_out) and a.events_out > 0
    with uproot.open(from_ntuple) as f, uproot.open(from_tree) as g:
        for column in ("event", "MET_pt", "TopCand_score", "Jet_pt"):
            assert ak.all(f["Events"][column].array() == g["Events"][column].array()), column


@pytest.mark.parametrize("tagger, message", [
    ({"model": "keras3_torch_conv1d.h5", "scaler": None},
     r"keras3_torch_conv1d.h5.*'conv1d' \(Conv1D\)"),
    ({"model": "missing.h5"}, r"missing.h5"),
    ({"model": "keras3_torch_tagger_scaler.json"}, r"keras3_torch_tagger_scaler.json"),
    ({"model": "keras2_activations_rectifiers.h5", "scaler": "keras3_torch_tagger_scaler.json"},
     r"keras3_torch_tagger_scaler.json.*10.*(inputs|width|features)|width"),
    ({"features": ["trijet_pt", "trijet_mass", "dijet_mass", "b_btag", "j1_btag", "j2_btag", "dr_j1j2",
                   "dr_b_dijet", "b_pt_frac", "top_charge"]}, r"feature 'top_charge'"),
])
def test_errors_before_any_event_is_read(generate, config, tmp_path, tagger, message):
    from tasks.interactive import overrides

    values = {**config.x.top_tagger, **{k: os.path.join(MODELS, v) if k in ("model", "scaler") and v else v
                                        for k, v in tagger.items()}}
    output = tmp_path / "out.root"
    with overrides(values={"top_tagger": values}), pytest.raises(TmetError, match=message):
        write_top_candidates([generate("tt_sl")], str(output), config, config.get_dataset("tt_sl"))
    assert not output.exists()
