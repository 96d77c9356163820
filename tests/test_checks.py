"""The edits an analysis makes in its first months, each in a temporary config or datasets
YAML: each gives the right number or stops before any event loop with an error naming the
file, the value and the fix (analysis.physics.checks, config.categories, config.campaigns,
analysis.physics.inputs_record)."""

import os

import numpy as np
import pytest
import uproot
import yaml

from analysis.engine.root_setup import import_root
from analysis.errors import TmetError
from analysis.physics.checks import check_config, check_step1_inputs
from analysis.physics.inputs_record import generator_weights, read_inputs_record
from analysis.stats.limits import observed
from config import campaigns, categories, variables
from config.analysis import build_config
from tests.conftest import REPO

NANO = os.path.join(REPO, "tests", "data", "nanoaod")
SYNTH_YAML = os.path.join(REPO, "config", "run2_2018_synth_datasets.yaml")


def synth_config(tmp_path, monkeypatch, keep=None, extra=None):
    """The synthetic config of the datasets ``keep`` (all by default) and the ``extra``
    entries, from a temporary datasets YAML."""
    content = yaml.safe_load(open(SYNTH_YAML))
    if keep is not None:
        content["datasets"] = {name: content["datasets"][name] for name in keep}
    content["datasets"].update(extra or {})
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(content))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018_SYNTH", str(path))
    return build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)


def real_config(tmp_path, monkeypatch, datasets):
    """run2_2018 (real data, blind signal regions) with the ``datasets`` entries."""
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump({"datasets": datasets}))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018", str(path))
    return build_config("run2_2018", campaigns.ul2018())


def test_a_new_signal_region_is_blind_on_real_data(tmp_path, monkeypatch):
    monkeypatch.setitem(categories.CATEGORIES, "sr_2b",
                        ("signal", ["met > 250", "n_lep_veto == 0", "n_jet >= 3", "n_bjet >= 2"]))
    config = real_config(tmp_path, monkeypatch, {"data": {"process": "data", "data": True, "files": ["/d.root"]}})
    assert config.x.blinded_categories == ["sr_0l", "sr_1l", "sr_2b"]
    # unblinding names a signal region; anything else is an error naming it
    with pytest.raises(TmetError, match=r"unblinds sr_3b, which is not a signal category of config/categories.py"):
        categories.blinded_categories(config, ["sr_3b"])
    assert categories.blinded_categories(config, ["sr_1l"]) == ["sr_0l", "sr_2b"]
    # a category without its role (the cut list of before) names the fix
    monkeypatch.setitem(categories.CATEGORIES, "sr_2b", ["met > 250", "n_jet >= 3"])
    with pytest.raises(TmetError, match=r"category 'sr_2b' in config/categories.py: give its role and its cuts, e.g. "
                                        r"\"sr_2b\": \(\"signal\", \[\"met > 250\", ...\]\)"):
        real_config(tmp_path, monkeypatch, {"data": {"process": "data", "data": True, "files": ["/d.root"]}})


def test_two_datasets_of_one_process_are_refused(tmp_path, monkeypatch):
    ext = {"process": "tt_sl", "data": False, "files": ["/store/mc/ext.root"], "top_candidates": "in_files",
           "step1_preselection": "none"}
    config = synth_config(tmp_path, monkeypatch, ["tt_sl", "data_met"], {"tt_sl_ext": ext})
    with pytest.raises(TmetError, match=r"mine.yaml: datasets 'tt_sl' \(process tt_sl\) and 'tt_sl_ext' \(process "
                                        r"tt_sl\) would each be normalised to the cross section of tt_sl, counting it "
                                        r"twice. If one extends the other .* make them one dataset: 'key: \[KEY, "
                                        r"EXT_KEY\]' and 'files: \[list.txt, ext_list.txt\]'"):
        check_config(config)
    # a process and one of its subprocesses overlap too (st_t holds st_t_top)
    config = synth_config(tmp_path, monkeypatch, ["st_t", "data_met"], {"st_t_top": {**ext, "process": "st_t_top"}})
    with pytest.raises(TmetError, match=r"'st_t' \(process st_t\) and 'st_t_top' \(process st_t_top\) would each be "
                                        r"normalised to the cross section of st_t"):
        check_config(config)
    # a deliberate split: one subprocess (its own cross section) per dataset
    check_config(synth_config(tmp_path, monkeypatch, ["data_met"], {
        "znunu_ht100to200": {**ext, "process": "znunu_ht100to200"},
        "znunu_ht200to400": {**ext, "process": "znunu_ht200to400"}}))


def test_an_extension_is_one_dataset_of_every_part(tmp_path, monkeypatch):
    (tmp_path / "tt_sl.txt").write_text("/store/mc/a_1.root\n/store/mc/a_2.root\n")
    (tmp_path / "tt_sl_ext1.txt").write_text("# the extension\n/store/mc/ext_1.root\n")
    config = real_config(tmp_path, monkeypatch, {"tt_sl": {
        "process": "tt_sl", "data": False, "key": ["/TT/A/NANOAODSIM", "/TT/A_ext1/NANOAODSIM"],
        "files": ["tt_sl.txt", "tt_sl_ext1.txt"]}})
    from config.datasets import dataset_files

    dataset = config.get_dataset("tt_sl")
    assert dataset.x.keys == ["/TT/A/NANOAODSIM", "/TT/A_ext1/NANOAODSIM"]
    assert dataset_files(dataset) == ["/store/mc/a_1.root", "/store/mc/a_2.root", "/store/mc/ext_1.root"]
    with pytest.raises(TmetError, match=r"real.yaml, dataset 'tt_sl': 2 keys but 1 file lists: give a file list per key"):
        real_config(tmp_path, monkeypatch, {"tt_sl": {"process": "tt_sl", "data": False, "key": ["/A", "/B"],
                                                      "files": "tt_sl.txt"}})


def test_step1_tighter_than_the_skim_is_refused(tmp_path, monkeypatch):
    config = synth_config(tmp_path, monkeypatch, ["tt_sl", "data_met"])
    check_config(config)
    config.x.top_candidates["preselection"]["met_min"] = 250.0
    with pytest.raises(TmetError, match=r"config.x.top_candidates\['preselection'\] in config/selection.py: STEP 1 keeps "
                                        r"only MET_pt > 250, but STEP 2 needs every event of MET_pt > 200 \(the skim's "
                                        r"met_min .*\).* Lower STEP 1's met_min to at most 200"):
        check_config(config)
    config.x.top_candidates["preselection"].update(met_min=150.0, jet_pt_min=30.0)
    with pytest.raises(TmetError, match=r"STEP 1 keeps only events with 2 jets of Jet_pt > 30, but STEP 2 needs every "
                                        r"event with 2 jets of Jet_pt > 25"):
        check_config(config)
    # without a skim cut, the categories' cuts less the shifts' margins set what STEP 2 needs
    config.x.top_candidates["preselection"].update(jet_pt_min=20.0, met_min=210.0)
    config.x.skim = {**config.x.skim, "met_min": 0.0}
    with pytest.raises(TmetError, match=r"STEP 2 needs every event of MET_pt > 200 \(the categories' MET cuts less the "
                                        r"shifts' margin"):
        check_config(config)


def test_the_group_step1_outputs_say_their_preselection(tmp_path, monkeypatch):
    step1 = {"process": "tt_sl", "data": False, "files": ["/store/mc/step1.root"], "top_candidates": "in_files"}
    config = synth_config(tmp_path, monkeypatch, ["data_met"], {"tt_group": step1})
    with pytest.raises(TmetError, match=r"mine.yaml, dataset 'tt_group': its files hold their top candidates .* Give it "
                                        r"as 'step1_preselection: \{met_min: X, jet_pt_min: Y, n_jet_min: N\}'"):
        check_config(config)
    tight = {"met_min": 250, "jet_pt_min": 20, "n_jet_min": 2}
    config = synth_config(tmp_path, monkeypatch, ["data_met"], {"tt_group": {**step1, "step1_preselection": tight}})
    with pytest.raises(TmetError, match=r"dataset 'tt_group', 'step1_preselection': STEP 1 keeps only MET_pt > 250"):
        check_config(config)
    # what a STEP 1 output records is checked as the skim opens it
    with pytest.raises(TmetError, match=r"/x/candidates_0.root \(the preselection its STEP 1 recorded\): STEP 1 keeps "
                                        r"only MET_pt > 250"):
        check_step1_inputs(config, {"/x/candidates_0.root": tight, "/x/candidates_1.root": None})


def test_categories_below_the_fit_range_are_refused(tmp_path, monkeypatch):
    met = variables.VARIABLES["met"]
    monkeypatch.setitem(variables.VARIABLES, "met", (met[0], (14, 300.0, 1000.0), *met[2:]))
    config = synth_config(tmp_path, monkeypatch, ["tt_sl", "data_met"])
    with pytest.raises(TmetError, match=r"category 'sr_0l' cuts 'met > 250', below 300, the lower edge of the fit "
                                        r"variable 'met' \(config/variables.py\): its events between 250 and 300 would "
                                        r"be added to the first bin. .* or name 'met' in UNDERFLOW_IN_FIRST_BIN"):
        check_config(config)
    monkeypatch.setattr(variables, "UNDERFLOW_IN_FIRST_BIN", ("met",))
    check_config(synth_config(tmp_path, monkeypatch, ["tt_sl", "data_met"]))


def test_a_config_without_data_has_no_observed_limit(tmp_path, monkeypatch):
    assert not observed(synth_config(tmp_path, monkeypatch, ["tt_sl", "tdm_ps_m500"]))
    assert observed(synth_config(tmp_path, monkeypatch, ["tt_sl", "tdm_ps_m500", "data_met"]))


def lhe_file(path, lengths):
    """A small NanoAOD-like file whose events hold LHEScaleWeight of ``lengths`` entries."""
    import awkward as ak

    n = len(lengths)
    with uproot.recreate(path) as f:
        f.mktree("Events", {"genWeight": np.float32, "PSWeight": "var * float32", "LHEScaleWeight": "var * float32"})
        f["Events"].extend({"genWeight": np.ones(n, np.float32), "PSWeight": ak.Array([[1.0] * 4] * n),
                            "LHEScaleWeight": ak.Array([[1.0] * k for k in lengths])})
        f.mktree("Runs", {"genEventSumw": np.float64})
        f["Runs"].extend({"genEventSumw": np.array([float(n)])})
    return str(path)


def test_theory_weights_of_another_layout_are_named(tmp_path, monkeypatch):
    config = synth_config(tmp_path, monkeypatch, ["tt_sl", "data_met"])
    ROOT = import_root()
    odd = lhe_file(tmp_path / "lhe44.root", [9, 9, 44])
    with pytest.raises(TmetError, match=rf"{odd}: LHEScaleWeight has 44 entries in some events, not one of NanoAOD's "
                                        r"layouts \(9, 8\)"):
        read_inputs_record(ROOT, [odd], ("Runs",), generator_weights(config))
    # a sample without scale weights (one entry of 1) needs its dataset to say so
    none = lhe_file(tmp_path / "lhe1.root", [1, 1])
    with pytest.raises(TmetError, match=r"A sample that stores no LHEScaleWeight has one entry of 1: .* 'missing_weights: "
                                        r"\[LHEScaleWeight\]'"):
        read_inputs_record(ROOT, [none], ("Runs",), generator_weights(config))
    record = read_inputs_record(ROOT, [none], ("Runs",), generator_weights(config, ["LHEScaleWeight"]))
    assert record.sums.sumw == 2.0 and list(record.sums.arrays["LHEScaleWeight"]) == [2.0] * 9
    assert record.sources[none] == {"sumw": "genEventSumw", "LHEScaleWeight": "missing"}
    with pytest.raises(TmetError, match=r"LHEScaleWeight has 9 entries in some events, but its dataset says its samples "
                                        r"store none"):
        read_inputs_record(ROOT, [os.path.join(NANO, "mc_ul17_dy.root")], ("Runs",),
                           generator_weights(config, ["LHEScaleWeight"]))
