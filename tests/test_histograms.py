"""Histograms: yields against an independent numpy sum, executors and partitions, shifts, data, errors."""

import numpy as np
import pytest
import uproot

from analysis.errors import TmetError
from analysis.physics.histograms import make_histograms, write_histograms
from analysis.physics.skim import sum_of_weights, weight_sums
from analysis.physics.snapshot import write_snapshot
from analysis.physics.weights import normalization, weight_factors
from config.shifts import shape_shifts

CATEGORIES = ["sr_0l", "sr_1l", "cr_tt_1l", "cr_w_1l"]


@pytest.fixture(scope="module")
def tt(skimmed, config, btag_efficiency):
    skim = skimmed["tt_sl"][1]
    norm = normalization(config, config.get_dataset("tt_sl"), sum_of_weights([skim]))
    return skim, norm


def snapshot(skim, path, config, btag_efficiency, shift):
    """The Snapshot of the tt_sl test skim ``skim`` under ``shift``."""
    write_snapshot([skim], path, config, config.get_dataset("tt_sl"), weight_sums([skim]), btag_efficiency,
                   config.get_shift(shift))


@pytest.fixture(scope="module")
def all_shifts_local(tt, config, btag_efficiency):
    skim, _ = tt
    shifts = [config.get_shift("nominal")] + shape_shifts(config)
    return make_histograms([skim], config, False, btag_efficiency, shifts, threads=1)


def test_yields_equal_numpy_from_snapshot(tt, config, btag_efficiency, all_shifts_local, tmp_path):
    """The Snapshot's weights (normalised: w_norm) against the histograms (not normalised:
    the templates apply lumi * xsec / sumw) times that normalisation."""
    skim, norm = tt
    for shift in ("nominal", "jes_up", "lep_up"):  # jes_up: the Snapshot library of test_jes_met_propagates
        path = str(tmp_path / f"snap_{shift}.root")
        snapshot(skim, path, config, btag_efficiency, shift)
        with uproot.open(path) as f:
            cols = f["Events"].arrays(library="np")
        factors = np.prod([cols[f] for f in weight_factors(config)], axis=0)
        np.testing.assert_allclose(factors, cols["weight"], rtol=1e-12)
        np.testing.assert_allclose(cols["w_norm"], norm, rtol=1e-15)  # lumi * xsec / sumw
        for category in CATEGORIES:
            mask = cols[f"cat_{category}"]
            hist = all_shifts_local[shift][(category, "met")]
            assert norm * hist.contents.sum() == pytest.approx(cols["weight"][mask].sum(), rel=1e-9)
            assert hist.entries == mask.sum()
            # n_jet histogram from numpy with the same edges and folded flow
            edges = np.linspace(1.5, 9.5, 9)
            values = np.clip(cols["n_jet"][mask], edges[0], edges[-1] - 1e-9)
            expected, _ = np.histogram(values, bins=edges, weights=cols["weight"][mask])
            hist = all_shifts_local[shift][(category, "n_jet")]
            np.testing.assert_allclose(norm * hist.contents[1:-1], expected, rtol=1e-9, atol=1e-12)
            # Sumw2: the variance of each bin is the sum of squared weights
            expected_w2, _ = np.histogram(values, bins=edges, weights=cols["weight"][mask] ** 2)
            variances = hist.variances[1:-1]
            np.testing.assert_allclose(norm ** 2 * variances, expected_w2, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("shifts", [["nominal"], ["nominal", "jes_up", "jes_down"], ["jer_down", "pu_up"]])
def test_some_shifts_equal_the_all_shifts_graph(tt, config, btag_efficiency, all_shifts_local, shifts):
    """A graph of only some shifts prefilters in another order (MET first where no shift
    varies it), and must select and weight exactly as the all-shifts graph."""
    skim, _ = tt
    hists = make_histograms([skim], config, False, btag_efficiency, [config.get_shift(s) for s in shifts],
                            threads=1)
    assert sorted(hists) == sorted(shifts)
    for shift in shifts:
        for key, hist in hists[shift].items():
            reference = all_shifts_local[shift][key]
            assert hist.entries == reference.entries, (shift, key)
            np.testing.assert_allclose(hist.contents, reference.contents, rtol=1e-12, err_msg=f"{shift} {key}")


def test_flow_folded_and_sumw2(all_shifts_local):
    hist = all_shifts_local["nominal"][("sr_0l", "met")]
    assert hist.contents[0] == 0 and hist.contents[-1] == 0
    assert len(hist.variances) == hist.x.n + 2


def test_dask_equals_local_with_1_and_4_partitions(tt, config, btag_efficiency, all_shifts_local, dask_client):
    skim, _ = tt
    shifts = [s.name for s in [config.get_shift("nominal")] + shape_shifts(config)]  # all_shifts_local's graph
    for partitions in (1, 4):
        dask = make_histograms([skim], config, False, btag_efficiency, [config.get_shift(s) for s in shifts],
                               client=dask_client, partitions=partitions)
        for shift in shifts:
            for key, hist in dask[shift].items():
                np.testing.assert_allclose(hist.contents, all_shifts_local[shift][key].contents, rtol=1e-9,
                                           atol=1e-12, err_msg=f"{shift} {key} npartitions={partitions}")
                assert hist.entries == all_shifts_local[shift][key].entries


def totals(hists, shift):
    return {c: hists[shift][(c, "met")].contents.sum() for c in CATEGORIES}


def test_weight_shifts_differ_and_bracket(all_shifts_local):
    nominal = totals(all_shifts_local, "nominal")
    for source in ("pu", "btag", "lep", "toptag", "mur", "muf", "isr", "fsr"):
        up, down = totals(all_shifts_local, f"{source}_up"), totals(all_shifts_local, f"{source}_down")
        assert any(up[c] != nominal[c] for c in CATEGORIES), source
        assert any(down[c] != nominal[c] for c in CATEGORIES), source
        # a weight shift never changes which events enter a category
        for c in CATEGORIES:
            assert (all_shifts_local[f"{source}_up"][(c, "met")].entries
                    == all_shifts_local["nominal"][(c, "met")].entries)
    # lepton SFs: tight leptons only, so 1-lepton categories bracket and sr_0l is unchanged
    lep_up, lep_down = totals(all_shifts_local, "lep_up"), totals(all_shifts_local, "lep_down")
    for c in ("sr_1l", "cr_tt_1l", "cr_w_1l"):
        assert lep_down[c] < nominal[c] < lep_up[c]
    assert lep_up["sr_0l"] == pytest.approx(nominal["sr_0l"])
    # top tagging: every sr_0l event has a tagged top, so exactly +-5 %
    assert totals(all_shifts_local, "toptag_up")["sr_0l"] == pytest.approx(1.05 * nominal["sr_0l"], rel=1e-9)
    assert totals(all_shifts_local, "toptag_down")["sr_0l"] == pytest.approx(0.95 * nominal["sr_0l"], rel=1e-9)
    # muR = 2 lowers the cross section in the synthetic model, muR = 0.5 raises it
    mur_up, mur_down = totals(all_shifts_local, "mur_up"), totals(all_shifts_local, "mur_down")
    for c in CATEGORIES:
        assert mur_up[c] < nominal[c] < mur_down[c]
    # pileup up and down lie on opposite sides of nominal in the sum over categories
    pu_up, pu_down = sum(totals(all_shifts_local, "pu_up").values()), sum(totals(all_shifts_local, "pu_down").values())
    assert (pu_up - sum(nominal.values())) * (pu_down - sum(nominal.values())) < 0


def test_object_shifts_migrate_events(all_shifts_local):
    def entries(shift):
        return {c: all_shifts_local[shift][(c, "met")].entries for c in CATEGORIES}

    nominal = entries("nominal")
    for source in ("jes", "jer", "met_uncl"):
        assert entries(f"{source}_up") != nominal or entries(f"{source}_down") != nominal, source
    # a higher jet energy scale raises MET-and-jet-driven yields, a lower one lowers them
    total = {s: sum(entries(s).values()) for s in ("nominal", "jes_up", "jes_down")}
    assert total["jes_down"] < total["nominal"] < total["jes_up"]


def test_jes_met_propagates_unsmeared_jets(tt, config, btag_efficiency, tmp_path):
    """Type-1 MET is made from unsmeared jets: under jes_up it moves by the change of the
    unsmeared jets above 15 GeV, with the uncertainty at their unsmeared pt (numpy and
    correctionlib here, the graph's Snapshot there)."""
    import correctionlib

    skim, _ = tt
    ids = ("run", "luminosityBlock", "event")
    path = str(tmp_path / "snap_jes_up.root")
    snapshot(skim, path, config, btag_efficiency, "jes_up")
    with uproot.open(path) as f:
        snap = f["Events"].arrays([*ids, "met", "met_phi"], library="np")
    with uproot.open(skim) as f:
        raw = f["Events"].arrays([*ids, "MET_pt", "MET_phi", "Jet_pt", "Jet_eta", "Jet_phi"], library="ak")
    jes = config.x.corrections["jes"]
    unc = correctionlib.CorrectionSet.from_file(jes["file"])[jes["name"]]
    index = {key: i for i, key in enumerate(zip(*(raw[b].to_numpy() for b in ids)))}
    assert len(snap["event"]) > 0
    for *key, met, met_phi in zip(*(snap[b] for b in ids), snap["met"], snap["met_phi"]):
        i = index[tuple(key)]
        pt, eta, phi = (np.asarray(raw[b][i], dtype=float) for b in ("Jet_pt", "Jet_eta", "Jet_phi"))
        change = np.where(pt > config.x.objects["met"]["recompute_jet_pt"], pt * unc.evaluate(eta, pt), 0.0)
        px = raw["MET_pt"][i] * np.cos(raw["MET_phi"][i]) - np.sum(change * np.cos(phi))
        py = raw["MET_pt"][i] * np.sin(raw["MET_phi"][i]) - np.sum(change * np.sin(phi))
        assert met == pytest.approx(np.hypot(px, py), rel=1e-5)
        assert met_phi == pytest.approx(np.arctan2(py, px), abs=1e-5)


def test_data_weight_one_no_shifts(skimmed, config, tmp_path):
    skim = skimmed["data_met"][1]
    hists = make_histograms([skim], config, True, None, [config.get_shift("nominal")], threads=1)["nominal"]
    for (category, variable), hist in hists.items():
        assert hist.contents.sum() == pytest.approx(hist.entries)
        errors = np.sqrt(hist.variances[1:-1])
        np.testing.assert_allclose(errors ** 2, hist.contents[1:-1])
    assert sum(hists[(c, "met")].entries for c in CATEGORIES) > 0
    path = str(tmp_path / "data.root")
    write_histograms(path, hists)
    with uproot.open(path) as f:
        assert sorted(k.split(";")[0] for k in f.keys() if "/" not in k) == sorted(CATEGORIES)
        assert f["sr_0l/met"].axis().edges()[0] == 250.0


def test_unreachable_scheduler_is_clear_error():
    from analysis.runtime.cluster import check_scheduler

    with pytest.raises(TmetError, match="cannot reach the Dask scheduler tcp://127.0.0.1:9"):
        check_scheduler("tcp://127.0.0.1:9", 2)
