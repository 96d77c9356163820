"""Corrections are bound by their inputs' names, checked against the file before any event
loop: another input order gives the same results, other names or types stop with an error
naming the file and the correction, and a value that cannot be a correction stops the loop."""

import copy
import json
import os

import numpy as np
import pytest

from analysis.engine.corrections import correction_specs, input_sources, setup
from analysis.errors import TmetError
from analysis.physics.histograms import make_histograms
from analysis.physics.selection import KERNELS
from config import campaigns
from config.analysis import build_config
from tests.conftest import REPO

POG = os.path.join(REPO, "tests", "data", "pog")
JES = "Summer19UL18_V5_MC_Total_AK4PFchs"


def with_jes(config, tmp_path, edit):
    """A copy of ``config`` whose JES correction is ``edit``-ed in a copy of its file."""
    spec = config.x.corrections["jes"]
    content = json.load(open(spec["file"]))
    (jes,) = [c for c in content["corrections"] if c["name"] == JES]
    edit(jes)
    path = tmp_path / "jet_jerc_edited.json"
    path.write_text(json.dumps(content))
    edited = copy.copy(config)
    edited.x.corrections = {**config.x.corrections, "jes": {**spec, "file": str(path)}}
    return edited


@pytest.fixture(scope="module")
def skim(skimmed):
    return skimmed["tt_sl"][1]


@pytest.fixture
def jes_config(tmp_path):
    return build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)


def jes_histograms(skim, config, btag_efficiency):
    shifts = [config.get_shift(name) for name in ("nominal", "jes_up", "jes_down")]
    return make_histograms([skim], config, False, btag_efficiency, shifts, threads=1)


def test_another_input_order_gives_the_same_histograms(skim, config, btag_efficiency, jes_config, tmp_path):
    reference = jes_histograms(skim, config, btag_efficiency)
    reversed_config = with_jes(jes_config, tmp_path, lambda jes: jes["inputs"].reverse())
    (jes,) = [c for c in json.load(open(reversed_config.x.corrections["jes"]["file"]))["corrections"] if c["name"] == JES]
    assert [i["name"] for i in jes["inputs"]] == ["JetPt", "JetEta"]
    hists = jes_histograms(skim, reversed_config, btag_efficiency)
    for shift, by_key in reference.items():
        for key, hist in by_key.items():
            np.testing.assert_array_equal(hists[shift][key].contents, hist.contents, err_msg=f"{shift} {key}")
    # and the JES variations bracket the nominal yield
    totals = {s: sum(hists[s][(c, "met")].contents.sum() for c in ("sr_0l", "sr_1l", "cr_tt_1l", "cr_w_1l"))
              for s in hists}
    assert totals["jes_down"] < totals["nominal"] < totals["jes_up"]


def test_other_input_names_stop_before_the_event_loop(skim, btag_efficiency, jes_config, tmp_path):
    def rename(jes):
        jes["inputs"][0]["name"] = "eta"
        jes["data"] = json.loads(json.dumps(jes["data"]).replace('"JetEta"', '"eta"'))

    renamed = with_jes(jes_config, tmp_path, rename)
    with pytest.raises(TmetError, match=rf"correction '{JES}' in .*jet_jerc_edited.json \(for 'jes'\): the config "
                                        r"expects inputs \['JetEta', 'JetPt'\], the file declares \['eta', 'JetPt'\]"):
        jes_histograms(skim, renamed, btag_efficiency)


def test_a_value_that_cannot_be_a_correction_stops_the_loop(skim, btag_efficiency, jes_config, tmp_path):
    def negative(jes):
        jes["data"] = {"nodetype": "binning", "input": "JetPt", "edges": [0.0, 1e5], "content": [-0.02], "flow": "clamp"}

    broken = with_jes(jes_config, tmp_path, negative)
    with pytest.raises(TmetError, match=rf"correction '{JES}' of .*jet_jerc_edited.json gave -0.020000, which cannot "
                                        r"be a scale factor, resolution, uncertainty or efficiency, for JetEta="):
        jes_histograms(skim, broken, btag_efficiency)


def test_muon_file_with_four_inputs(monkeypatch):
    """The 2021 muon files take (year, abseta, pt, ValType): the config's three-input binding
    is refused naming file, correction and both input lists; mapped by name it is used."""
    monkeypatch.setenv("TMET_POG_ROOT", POG)
    config = build_config("run2_2018", campaigns.ul2018())
    old = os.path.join(POG, "MUO", "2018_UL", "muon_Z_2021.json.gz")
    spec = {**config.x.corrections["muon_id"], "file": old}
    with pytest.raises(TmetError, match=r"correction 'NUM_TightID_DEN_TrackerMuons' in .*muon_Z_2021.json.gz "
                                        r"\(for 'muon_id'\): the config expects inputs \['eta', 'pt', 'scale_factors'\], "
                                        r"the file declares \['year', 'abseta', 'pt', 'ValType'\]"):
        setup({"muon_id": spec}, KERNELS)
    mapping = {"inputs": {"abseta": "abseta", "pt": "pt", "ValType": "variation"}, "fixed": {"year": "2018_UL"},
               "variations": ["sf", "systup", "systdown"]}
    current = {key: config.x.corrections[key] for key in ("muon_id", "muon_iso", "electron_id")}
    mapped = {**current, **{key: {**current[key], **mapping, "file": old} for key in ("muon_id", "muon_iso")}}
    ROOT = setup(mapped, KERNELS)
    pt, eta, none = (ROOT.RVecF(v) for v in ([30.0, 60.0], [1.0, -2.2], []))
    with_old = ROOT.tmet.lepton_weight(pt, eta, none, none, ROOT.tmet.UP)
    setup(current, KERNELS)
    with_current = ROOT.tmet.lepton_weight(pt, eta, none, none, ROOT.tmet.UP)
    # the two formats hold the same numbers
    assert with_old == pytest.approx(with_current, rel=1e-6) and with_old != 1.0


def test_types_are_checked():
    declared = [("JetEta", "real"), ("systematic", "string")]
    spec = {"file": "f.json", "name": "sf", "inputs": {"JetEta": "variation", "systematic": "eta"}}
    with pytest.raises(TmetError, match=r"input 'JetEta' carries the variation, but the file declares it real"):
        input_sources("jer_sf", spec, declared)
    spec = {"file": "f.json", "name": "sf", "inputs": {"JetEta": "eta", "systematic": "variation"}}
    with pytest.raises(TmetError, match=r"give its nominal, up and down strings as 'variations'"):
        input_sources("jer_sf", spec, declared)
    assert input_sources("jer_sf", {**spec, "variations": ["nom", "up", "down"]}, declared) == (
        [0, -2], ["", ""], ["nom", "up", "down"])


def test_real_pog_files_bind_by_name(monkeypatch):
    """Every correction of the real campaigns binds to the real POG files (tests/data/pog)."""
    monkeypatch.setenv("TMET_POG_ROOT", POG)
    for name, values in (("run2_2018", campaigns.ul2018()), ("run3_2022", campaigns.run3_2022())):
        config = build_config(name, values)
        setup(correction_specs(config, keys=list(config.x.corrections)), KERNELS)


@pytest.mark.parametrize("working_point", ["M", "T"])
def test_the_btag_scale_factors_take_the_working_point_of_the_threshold(monkeypatch, tmp_path, working_point):
    """settings: btag_working_point: T gives the tight threshold and the tight scale factors
    (BTV's real 2018 file), the medium default the medium ones: one name for both."""
    import correctionlib
    import yaml

    monkeypatch.setenv("TMET_POG_ROOT", POG)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"settings": {"btag_working_point": working_point} if working_point != "M" else {},
                                    "datasets": {"tt": {"process": "tt_sl", "data": False, "files": ["/d/tt.root"]}}}))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018", str(path))
    config = build_config("run2_2018", campaigns.ul2018())
    assert config.x.objects["btag"]["value"] == {"M": 0.2783, "T": 0.7100}[working_point]
    ROOT = setup(correction_specs(config, keys=["btag_heavy", "btag_light"]), KERNELS)
    pt, eta = ROOT.RVecF([50.0, 120.0]), ROOT.RVecF([0.5, -1.7])
    flavour, selected = ROOT.RVecI([5, 0]), ROOT.RVecB([True, True])
    # both jets tagged: the weight is the product of their scale factors
    weight = ROOT.tmet.btag_weight(pt, eta, flavour, ROOT.RVecB([True, True]), selected, ROOT.RVecD([0.7, 0.1]),
                                   ROOT.tmet.NOMINAL)
    cset = correctionlib.CorrectionSet.from_file(os.path.join(POG, "BTV", "2018_UL", "btagging.json.gz"))
    expected = (cset["deepJet_comb"].evaluate("central", working_point, 5, 0.5, 50.0)
                * cset["deepJet_incl"].evaluate("central", working_point, 0, 1.7, 120.0))
    other = "M" if working_point == "T" else "T"
    not_expected = (cset["deepJet_comb"].evaluate("central", other, 5, 0.5, 50.0)
                    * cset["deepJet_incl"].evaluate("central", other, 0, 1.7, 120.0))
    assert weight == pytest.approx(expected, rel=1e-6) and abs(weight / not_expected - 1) > 1e-3
    with pytest.raises(TmetError, match=r"mine.yaml, settings: 'btag_working_point' must name one of the campaign's "
                                        r"b-tag working points \(L: 0.049, M: 0.2783, T: 0.71\), got 'tight'"):
        from config.campaigns import with_settings

        with_settings(campaigns.ul2018(), {"btag_working_point": "tight"}, str(path))
