"""Skim: invariance of every category under object shifts, weight sums, independent counts, bad inputs."""

import os
import shutil

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.engine import corrections
from analysis.errors import TmetError
from analysis.physics.histograms import universe
from analysis.physics.selection import KERNELS, category_flag, define_selection
from analysis.physics.checks import category_cuts
from analysis.physics.skim import skim_files, sum_of_weights
from analysis.physics.weights import define_weights
from config.shifts import OBJECT, shape_shifts, sources


@pytest.fixture(scope="module")
def category_yields():
    """category_yields(paths, config, is_data, btag_efficiency) -> {variation: {category:
    (events, sum of weights)}} with all object shifts in one pass of ROOT's jitted RDataFrame
    (independent of the compiled graphs), remembered per paths and category cuts."""
    made = {}

    def make(paths, config, is_data, btag_efficiency):
        key = (tuple(paths), is_data, tuple((c.name, tuple(category_cuts(c))) for c in config.categories))
        if key not in made:
            made[key] = jitted_category_yields(paths, config, is_data, btag_efficiency)
        return made[key]

    return make


def jitted_category_yields(paths, config, is_data, btag_efficiency):
    ROOT = corrections.setup(corrections.correction_specs(config, None if is_data else btag_efficiency), KERNELS)
    varied = [] if is_data else sources(config, OBJECT)
    df = define_selection(ROOT.RDataFrame("Events", paths), config, is_data, varied=varied)
    df = define_weights(df, config, is_data, btag_efficiency=btag_efficiency)
    booked = {}
    for category in config.categories.names():
        selected = df.Filter(category_flag(category))
        booked[category] = (selected.Count(), selected.Sum("weight"))
    variations = ROOT.RDF.Experimental.VariationsFor
    result = {}
    for category, (count, weight) in booked.items():
        counts, weights = variations(count), variations(weight)
        for key in counts.GetKeys():
            result.setdefault(str(key), {})[category] = (counts[key], pytest.approx(weights[key], rel=1e-9))
    return result


@pytest.mark.parametrize("name", ["tt_sl", "data_met"])
def test_category_yields_invariant_under_skim(skimmed, config, btag_efficiency, category_yields, name):
    inputs, skim = skimmed[name]
    is_data = config.get_dataset(name).is_data
    full = category_yields(inputs, config, is_data, btag_efficiency)
    reduced = category_yields([skim], config, is_data, btag_efficiency)
    expected = {"nominal"} | (set() if is_data else {universe(s) for s in shape_shifts(config, OBJECT)})
    assert set(full) == expected
    assert full == reduced
    # the test is meaningful: every category is populated and object shifts move events
    assert all(n > 0 for n, _ in full["nominal"].values())
    if not is_data:
        assert full[universe(config.get_shift("jes_up"))] != full["nominal"]


def test_an_extension_gives_the_yields_of_one_sample_of_twice_the_events(skimmed, nanoaod, config, btag_efficiency,
                                                                       tmp_path, monkeypatch):
    """tt_sl as a sample and its extension (two keys, a file list each: here the two files of
    the synthetic tt_sl, after STEP 1), skimmed part by part as its branches are and
    normalised with the sum of weights over both: the yields of one sample of both files (the
    two-file test skim). As two datasets each part would carry the whole cross section."""
    import yaml

    from analysis.physics.checks import check_config
    from analysis.physics.histograms import make_histograms
    from analysis.physics.skim import weight_sums
    from analysis.physics.weights import normalization
    from config import campaigns
    from config.analysis import build_config
    from config.datasets import dataset_files
    from tests.conftest import REPO

    parts = [nanoaod("tt_sl", i) for i in range(2)]
    for i, part in enumerate(parts):
        (tmp_path / f"part{i}.txt").write_text(part + "\n")
    content = yaml.safe_load(open(os.path.join(REPO, "config", "run2_2018_synth_datasets.yaml")))
    content["datasets"] = {"tt_sl": {
        "process": "tt_sl", "data": False, "key": ["/TT/SL/NANOAODSIM", "/TT/SL_ext1/NANOAODSIM"],
        "files": ["part0.txt", "part1.txt"], "top_candidates": "in_files", "step1_preselection": "none",
        "filter_efficiency": config.get_dataset("tt_sl").x.filter_efficiency}}
    (tmp_path / "ext.yaml").write_text(yaml.safe_dump(content))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018_SYNTH", str(tmp_path / "ext.yaml"))
    extended = build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)
    check_config(extended)
    dataset = extended.get_dataset("tt_sl")
    assert dataset_files(dataset) == parts
    skims = [str(tmp_path / f"skim_{i}.root") for i in range(2)]
    for part, skim in zip(parts, skims):
        skim_files([part], skim, extended, False)

    def yields(paths, config_inst, sumw):
        hists = make_histograms(paths, config_inst, False, btag_efficiency, [config_inst.get_shift("nominal")])
        norm = normalization(config_inst, config_inst.get_dataset("tt_sl"), sumw)
        return np.array([norm * hists["nominal"][(c, "met")].contents.sum() for c in config_inst.categories.names()])

    one_sample = yields([skimmed["tt_sl"][1]], config, sum_of_weights([skimmed["tt_sl"][1]]))
    np.testing.assert_allclose(yields(skims, extended, weight_sums(skims).sumw), one_sample, rtol=1e-9)
    assert np.all(one_sample > 0)
    two_datasets = sum(yields([skim], extended, sum_of_weights([skim])) for skim in skims)
    np.testing.assert_allclose(two_datasets / one_sample, 2.0, rtol=0.1)


def test_runs_sum_of_weights_survives(skimmed):
    inputs, skim = skimmed["tt_sl"]
    total = 0.0
    for path in inputs:
        with uproot.open(path) as f:
            total += f["Runs"]["genEventSumw"].array(library="np").sum()
    assert sum_of_weights([skim]) == pytest.approx(total, rel=1e-12)
    with uproot.open(skim) as f:
        assert f["Runs"].num_entries == len(inputs)


@pytest.mark.parametrize("name", ["tt_sl", "data_met"])
def test_skim_counts_match_independent_numpy(skimmed, config, name):
    inputs, skim = skimmed[name]
    is_data = config.get_dataset(name).is_data
    flags = config.x.met_filters["data" if is_data else "mc"] + config.x.triggers
    expected = 0
    for path in inputs:
        with uproot.open(path) as f:
            a = f["Events"].arrays(flags + ["MET_pt", "Jet_pt"])
        passed = np.ones(len(a), dtype=bool)
        for flag in flags:
            passed &= a[flag].to_numpy()
        passed &= a["MET_pt"].to_numpy() > config.x.skim["met_min"]
        passed &= ak.sum(a["Jet_pt"] > config.x.skim["jet_pt_min"], axis=1).to_numpy() >= config.x.skim["n_jet_min"]
        expected += int(passed.sum())
    with uproot.open(skim) as f:
        assert f["Events"].num_entries == expected
        keys = set(f["Events"].keys())
    assert 0 < expected < sum(uproot.open(p)["Events"].num_entries for p in inputs)
    if is_data:
        assert not keys & set(config.x.mc_only_branches)


def test_zero_event_input_gives_valid_empty_skim(nanoaod, config, tmp_path):
    empty = nanoaod("tt_sl", 0, n_events=0)
    out = str(tmp_path / "empty_skim.root")
    result = skim_files([empty], out, config, False)
    assert (result.events_in, result.events_out) == (0, 0)
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 0
        assert "Jet_pt" in f["Events"].keys()
        assert f["Runs"].num_entries == 1


def test_skims_are_rntuples_and_an_empty_one_a_readable_ttree(nanoaod, skimmed, config, btag_efficiency, tmp_path):
    """ROOT 6.40's RDataFrame crashes on an RNTuple without entries: an empty skim is a
    TTree, and a dataset's empty skims are left out of the loop over its RNTuples."""
    from analysis.physics.histograms import make_histograms

    _, skim = skimmed["tt_sl"]
    empty = str(tmp_path / "empty_skim.root")
    skim_files([nanoaod("tt_sl", 0, n_events=0)], empty, config, False)
    with uproot.open(skim) as f, uproot.open(empty) as g:
        assert config.x.skim_format == "RNTuple"
        assert f.classname_of("Events") == "ROOT::RNTuple" and g.classname_of("Events") == "TTree"
    shifts = [config.get_shift(name) for name in ("nominal", "jes_up", "pu_down")]
    alone = make_histograms([skim], config, False, btag_efficiency, shifts)
    mixed = make_histograms([empty, skim, empty], config, False, btag_efficiency, shifts)
    for shift in alone:
        for key, hist in alone[shift].items():
            np.testing.assert_array_equal(mixed[shift][key].contents, hist.contents)
    nothing = make_histograms([empty], config, False, btag_efficiency, shifts)
    assert all(h.entries == 0 for h in nothing["nominal"].values())


def test_missing_branch_names_file_and_branch(nanoaod, config, tmp_path):
    from analysis.engine.root_setup import import_root

    ROOT = import_root()
    source = nanoaod("tt_sl")
    broken = str(tmp_path / "no_tightid.root")
    columns = [c for c in ROOT.RDataFrame("Events", source).GetColumnNames() if str(c) != "Muon_tightId"]
    ROOT.RDataFrame("Events", source).Snapshot("Events", broken, columns)
    out = str(tmp_path / "out.root")
    with pytest.raises(TmetError, match=rf"{broken}: branch 'Muon_tightId' missing"):
        skim_files([source, broken], out, config, False)
    assert not os.path.exists(out)


def test_campaign_branch_names_are_skimmed_under_canonical_names(nanoaod, config, tmp_path):
    """Files that name a branch otherwise (here rho as NanoAODv12 names it) are read through
    config.x.branch_map (a campaign's, or a datasets YAML's settings), and the skim holds the
    canonical name and values."""
    from analysis.engine.root_setup import import_root
    from analysis.physics.inputs_record import add_inputs_record, read_inputs_record

    ROOT = import_root()
    source = nanoaod("tt_sl")
    renamed = str(tmp_path / "nanov12_rho.root")
    events = ROOT.RDataFrame("Events", source).Define("Rho_fixedGridRhoFastjetAll", "fixedGridRhoFastjetAll")
    events.Snapshot("Events", renamed, [c for c in events.GetColumnNames() if str(c) != "fixedGridRhoFastjetAll"])
    add_inputs_record(ROOT, read_inputs_record(ROOT, [source], ("Runs",)), renamed)  # its Runs, no SUMW
    reference, out = str(tmp_path / "reference.root"), str(tmp_path / "out.root")
    skim_files([source], reference, config, False)
    with pytest.raises(TmetError, match=rf"{renamed}: branch 'fixedGridRhoFastjetAll' missing"):
        skim_files([renamed], out, config, False)

    canonical_names = config.x.branch_map
    config.x.branch_map = {"fixedGridRhoFastjetAll": "Rho_fixedGridRhoFastjetAll"}
    try:
        skim_files([renamed], out, config, False)
    finally:
        config.x.branch_map = canonical_names
    with uproot.open(reference) as ref, uproot.open(out) as got:
        assert "Rho_fixedGridRhoFastjetAll" not in got["Events"].keys()
        rho = got["Events"]["fixedGridRhoFastjetAll"].array(library="np")
        assert len(rho) > 0
        np.testing.assert_array_equal(rho, ref["Events"]["fixedGridRhoFastjetAll"].array(library="np"))


def test_truncated_file_names_it(nanoaod, config, tmp_path):
    truncated = str(tmp_path / "truncated.root")
    shutil.copy(nanoaod("tt_sl"), truncated)
    with open(truncated, "r+b") as f:
        f.truncate(os.path.getsize(truncated) // 2)
    out = str(tmp_path / "out.root")
    with pytest.raises(TmetError, match=rf"{truncated}"):
        skim_files([truncated], out, config, False)
    assert not os.path.exists(out)


def test_lumi_mask_keeps_only_certified_sections(nanoaod, config, tmp_path):
    import json

    data = nanoaod("data_met")
    with uproot.open(data) as f:
        ids = f["Events"].arrays(["run", "luminosityBlock"], library="np")
    runs = np.unique(ids["run"])
    # certify the first run's lumi sections 1..10 only
    mask_path = tmp_path / "golden.json"
    mask_path.write_text(json.dumps({str(runs[0]): [[1, 10]]}))
    previous = config.x.lumi_mask
    config.x.lumi_mask = str(mask_path)
    try:
        n_out = skim_files([data], str(tmp_path / "masked.root"), config, True).events_out
    finally:
        config.x.lumi_mask = previous
    with uproot.open(str(tmp_path / "masked.root")) as f:
        kept = f["Events"].arrays(["run", "luminosityBlock"], library="np")
    assert n_out > 0 and np.all(kept["run"] == runs[0]) and kept["luminosityBlock"].max() <= 10
    unmasked = skim_files([data], str(tmp_path / "unmasked.root"), config, True).events_out
    assert n_out < unmasked


def test_unreadable_lumi_mask_names_the_file(nanoaod, config, tmp_path):
    data = nanoaod("data_met")
    mask_path = tmp_path / "golden.json"
    mask_path.write_text('{"315267": [[1, "ten"]]}')
    previous, config.x.lumi_mask = config.x.lumi_mask, str(mask_path)
    out = tmp_path / "masked.root"
    try:
        with pytest.raises(TmetError, match=rf"certified-luminosity JSON {mask_path}"):
            skim_files([data], str(out), config, True)
    finally:
        config.x.lumi_mask = previous
    assert not out.exists()


SR_0L = ["n_lep_veto == 0", "n_jet >= 3", "n_bjet >= 1", "min_dphi > 0.4", "top_tagged"]


@pytest.mark.parametrize("cuts, values, message", [
    (["met > 150"] + SR_0L, {}, r"category 'sr_0l' has its cut 'met > 150', but the skim keeps only MET_pt > 200 "
                                r"\(config.x.skim in config/selection.py\).*'met_min' must be at most 120: lower it"),
    (SR_0L, {}, r"category 'sr_0l' has no cut 'met > X', but the skim keeps only MET_pt > 200"),
    (["met > 250", "n_lep_veto == 0", "n_jet >= 1", "top_tagged"], {},
     r"category 'sr_0l' has its cut 'n_jet >= 1', but the skim keeps only events with 2 jets of Jet_pt > 25 .*"
     r"lower the skim's 'n_jet_min' to 1"),
    (None, {"objects": "jet pt 28"}, r"the jets of the categories need pt > 28 .* 'jet_pt_min' must be at most 23.52"),
])
def test_cuts_below_the_skim_are_refused_naming_category_cut_and_skim(config, cuts, values, message):
    from tasks.interactive import overrides

    before = (list(config.get_category("sr_0l").selection), config.x.objects)
    if values:
        values = {"objects": {**config.x.objects, "jet": {**config.x.objects["jet"], "pt": 28.0}}}
    with pytest.raises(TmetError, match=message):
        with overrides(cuts={"sr_0l": cuts} if cuts else None, values=values):
            pass
    # refused and restored: the config is as it was
    assert (config.get_category("sr_0l").selection, config.x.objects) == before


def test_a_lower_skim_lets_a_lower_cut_through(config):
    from tasks.interactive import overrides

    with overrides(cuts={"sr_0l": ["met > 150"] + SR_0L}, values={"skim": {**config.x.skim, "met_min": 120.0}}):
        pass


def test_a_cut_above_the_skim_runs_and_equals_the_unskimmed_run(skimmed, config, btag_efficiency, category_yields):
    from tasks.interactive import overrides

    inputs, skim = skimmed["tt_sl"]
    with overrides(cuts={"sr_0l": ["met > 300"] + SR_0L}):
        full = category_yields(inputs, config, False, btag_efficiency)
        reduced = category_yields([skim], config, False, btag_efficiency)
    assert full == reduced
    assert 0 < full["nominal"]["sr_0l"][0] < category_yields([skim], config, False, btag_efficiency)["nominal"]["sr_0l"][0]


def test_a_category_edited_below_the_skim_stops_law_run_before_any_task(tmp_path):
    """The README's way: config/categories.py edited in a checkout; `law run` refuses it at once."""
    from tests.conftest import copy_of_repository
    from tests.test_trust import edit, env_of, run

    repo = copy_of_repository(tmp_path)
    edit(repo / "config" / "categories.py", '"sr_0l": (SIGNAL, ["met > 250"', '"sr_0l": (SIGNAL, ["met > 150"')
    code, out = run(env_of(tmp_path, repo), "Histograms", "--dataset", "tt_sl", "--shift", "all")
    assert code != 0 and "category 'sr_0l' has its cut 'met > 150'" in out and "at most 120" in out, out
    assert not os.path.exists(os.path.join(tmp_path, "store"))  # nothing ran, nothing was written


def skim_arrays(path):
    """{column: the skim's values, one array (or list of arrays) per column} of a skim."""
    with uproot.open(path) as f:
        return {name: array for name, array in f["Events"].arrays(library="np").items()}


def assert_same_skim(ours, theirs):
    a, b = skim_arrays(ours), skim_arrays(theirs)
    assert sorted(a) == sorted(b)
    for name in a:
        assert len(a[name]) == len(b[name]) > 0, name
        assert all(np.array_equal(x, y) for x, y in zip(a[name], b[name])), name


def test_a_skim_of_inputs_with_their_friends_equals_the_skim_of_step1s_copies(friends, skimmed, config, tmp_path):
    """top_candidates_output: friend gives the skim of full: the same events, columns and
    values; its sums of weights come from the inputs' Runs (the copies recorded the same)."""
    inputs, paired = zip(*friends)
    out = str(tmp_path / "with_friends.root")
    result = skim_files(list(inputs), out, config, False, friends=list(paired))
    assert result.events_in == sum(uproot.open(p)["Events"].num_entries for p in inputs)
    assert_same_skim(out, skimmed["tt_sl"][1])
    assert sum_of_weights([out]) == sum_of_weights([skimmed["tt_sl"][1]])
    with uproot.open(paired[0]) as f:  # the friend's layout (docs/engine.md)
        tree = f["Friends"]
        assert tree.num_entries == uproot.open(inputs[0])["Events"].num_entries
        assert {"run", "luminosityBlock", "event", "passStep1Preselection", "nTopCand", "TopCand_score"} <= set(tree.keys())
        passed, counts = tree["passStep1Preselection"].array(library="np"), tree["nTopCand"].array(library="np")
        assert not counts[~passed].any() and counts[passed].any() and not passed.all()


def test_a_friend_paired_with_another_input_is_refused_naming_both(friends, generate, config, tmp_path):
    from analysis.physics.top_candidates import write_top_candidate_friends

    (first, first_friend), (second, second_friend) = friends
    out = str(tmp_path / "swapped.root")
    with pytest.raises(TmetError, match=rf"{second_friend} is not the friend of {first}: entry 0 is event"):
        skim_files([first, second], out, config, False, friends=[second_friend, first_friend])
    assert not os.path.exists(out)
    # a friend of fewer entries (an input replaced since STEP 1): refused before any event is read
    shorter = generate("tt_sl", 0, n_events=1000)
    short_friend = str(tmp_path / "short_friend.root")
    write_top_candidate_friends([shorter], [short_friend], config, config.get_dataset("tt_sl"))
    with pytest.raises(TmetError, match=rf"{short_friend} is not the friend of {first}: it has 1000 entries, the input "
                                        rf"4000"):
        skim_files([first], out, config, False, friends=[short_friend])
    assert not os.path.exists(out)
    with pytest.raises(TmetError, match=rf"{first} has no 'Friends' tree or RNTuple: it is not a STEP 1 friend file"):
        skim_files([first], out, config, False, friends=[first])  # not a friend file at all


def test_an_rntuple_input_reads_its_friend_entry_by_entry(friends, config, tmp_path):
    """RDataFrame joins no TTree to an RNTuple: the skim reads the friend in step with it."""
    from analysis.engine.root_setup import import_root
    from analysis.physics.top_candidates import write_top_candidate_friends

    ROOT = import_root()
    (source, friend), _ = friends
    ntuple = str(tmp_path / "tt_rntuple.root")
    importer = ROOT.Experimental.RNTupleImporter.Create(source, "Events", ntuple)
    importer.SetIsQuiet(True)
    importer.Import()
    own_friend = str(tmp_path / "rntuple_friend.root")
    write_top_candidate_friends([ntuple], [own_friend], config, config.get_dataset("tt_sl"))
    twin = str(tmp_path / "twin.root")
    skim_files([source], twin, config, False, friends=[friend])
    for made in (own_friend, friend):  # STEP 1 of the RNTuple, and of its TTree twin
        out = str(tmp_path / f"rntuple_{os.path.basename(made)}")
        skim_files([ntuple], out, config, False, friends=[made])
        assert_same_skim(out, twin)
    with pytest.raises(TmetError, match="read by one thread"):
        skim_files([ntuple], str(tmp_path / "threads.root"), config, False, threads=2, friends=[friend])
