"""NanoAOD versions: the same generated events in the v9, v12 and v15 layouts (other branch
names and types, v12's wrong stored jet ID, v15 without Jet_jetId and with PUPPI MET) give
the same skims and histograms; a version's needs are checked before the event loop."""

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.errors import TmetError
from analysis.physics.generator import generate_file
from analysis.physics.histograms import make_histograms
from analysis.physics.skim import skim_files
from analysis.physics.top_candidates import write_top_candidates
from config.shifts import shape_shifts

EVENTS = 6000


@pytest.fixture(scope="module")
def layouts(config, tmp_path_factory, btag_efficiency):
    """{version: (raw file, skim, histograms of every shift)} of one tt_sl seed."""
    base = tmp_path_factory.mktemp("layouts")
    dataset = config.get_dataset("tt_sl")
    shifts = [config.get_shift("nominal")] + shape_shifts(config)
    settings = dataset.x.generator
    result = {}
    for version in (9, 12, 15):
        raw, skim = str(base / f"v{version}.root"), str(base / f"v{version}_skim.root")
        dataset.x.generator = {**settings, "nano_version": version}
        try:
            generate_file(raw, config, dataset, 0, n_events=EVENTS)
        finally:
            dataset.x.generator = settings
        step1 = str(base / f"v{version}_step1.root")  # STEP 1 keeps the layout of its input
        write_top_candidates([raw], step1, config, dataset, nano_version=version)
        skim_files([step1], skim, config, False, version)
        result[version] = (raw, skim, make_histograms([skim], config, False, btag_efficiency, shifts, threads=1))
    return result


def test_layouts_differ_as_nanoaod_does(layouts):
    with uproot.open(layouts[9][0]) as v9, uproot.open(layouts[12][0]) as v12, uproot.open(layouts[15][0]) as v15:
        assert {"Jet_jetId", "MET_pt", "fixedGridRhoFastjetAll"} <= set(v9["Events"].keys())
        assert v12["Events"]["Jet_jetId"].typename == "uint8_t[]" and "Rho_fixedGridRhoFastjetAll" in v12["Events"]
        assert "Jet_chMultiplicity" not in v12["Events"]
        keys15 = set(v15["Events"].keys())
        assert "Jet_jetId" not in keys15 and "MET_pt" not in keys15
        assert {"PuppiMET_pt", "PuppiMET_ptUnclusteredUp", "Jet_chMultiplicity", "Jet_neEmEF"} <= keys15
        # v12's stored flag is wrong for some forward jets, as in real NanoAODv12
        stored = ak.flatten(v12["Events"]["Jet_jetId"].array()).to_numpy()
        truth = ak.flatten(v9["Events"]["Jet_jetId"].array()).to_numpy()
        assert np.sum((stored & 2) != (truth & 2)) > 0


def test_skims_hold_the_same_canonical_jet_id_and_met(layouts):
    from analysis.engine.root_setup import import_root

    ROOT = import_root()
    columns = {}
    for version, (_, skim, _) in layouts.items():
        columns[version] = ROOT.RDataFrame("Events", skim).AsNumpy(["event", "Jet_jetId", "Jet_eta", "MET_pt",
                                                                   "MET_MetUnclustEnUpDeltaX"])
    for version in (12, 15):
        np.testing.assert_array_equal(columns[version]["event"], columns[9]["event"])
        np.testing.assert_array_equal(columns[version]["MET_pt"], columns[9]["MET_pt"])
        for jet_id, reference, eta in zip(columns[version]["Jet_jetId"], columns[9]["Jet_jetId"], columns[9]["Jet_eta"]):
            jet_id, reference, inner = np.asarray(jet_id), np.asarray(reference), np.abs(np.asarray(eta)) <= 2.7
            np.testing.assert_array_equal(jet_id & 2, reference & 2)
            np.testing.assert_array_equal(jet_id[inner], reference[inner])
    np.testing.assert_allclose(columns[15]["MET_MetUnclustEnUpDeltaX"], columns[9]["MET_MetUnclustEnUpDeltaX"],
                               atol=1e-3)


def test_histograms_equal_across_versions(layouts):
    reference = layouts[9][2]
    for version in (12, 15):
        hists = layouts[version][2]
        for shift, by_key in reference.items():
            for key, hist in by_key.items():
                if version == 15 and shift.startswith("met_uncl"):
                    # v15's variation is rebuilt from float pt and phi: rounding only
                    np.testing.assert_allclose(hists[shift][key].contents, hist.contents, rtol=0.05, atol=1e-9)
                    continue
                np.testing.assert_array_equal(hists[shift][key].contents, hist.contents, err_msg=f"v{version} {shift}")


def test_v13_files_need_the_jet_id_json(config, layouts, tmp_path):
    from config import campaigns
    from config.analysis import build_config

    without = build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)
    without.x.corrections = {k: v for k, v in without.x.corrections.items() if not k.startswith("jet_id")}
    with pytest.raises(TmetError, match=r"NanoAODv15 files need JME's jet ID \(jetid.json\), but config "
                                        r"'run2_2018_synth' has no correction jet_id_tight, jet_id_tight_lepton_veto"):
        skim_files([layouts[15][0]], str(tmp_path / "skim.root"), without, False, 15)


def test_a_v15_file_read_as_v9_names_the_missing_branch(config, layouts, tmp_path):
    with pytest.raises(TmetError, match=r"v15.root: branch 'Jet_jetId' missing from tree 'Events'"):
        skim_files([layouts[15][0]], str(tmp_path / "skim.root"), config, False, 9)
