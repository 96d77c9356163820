"""Config consistency: every dataset, shift, category and variable of docs/physics.md is there."""

import order as od
import pytest

from analysis.errors import TmetError
from config.analysis import get_config
from config.datasets import dataset_files, get_dataset
from config.shifts import get_shift

CONFIGS = ["run2_2018_synth", "run2_2018", "run3_2022"]
SYNTH_DATASETS = [
    "tt_sl", "tt_dl", "tt_fh", "st_t", "st_tw", "wjets", "znunu", "ttz", "ttw",
    "tdm_ps_m100", "tdm_ps_m500", "tdm_ps_m1000", "data_met",
]
# the shape shift sources of the analysis and their kinds
SHAPE_SOURCES = [
    ("jes", "object"), ("jer", "object"), ("met_uncl", "object"), ("pu", "weight"), ("btag", "weight"),
    ("lep", "weight"), ("toptag", "weight"), ("mur", "weight"), ("muf", "weight"), ("isr", "weight"),
    ("fsr", "weight"),
]
ANALYSIS_VARIABLES = {
    "met": (15, 250, 1000), "mt": (20, 0, 500), "n_jet": (8, 1.5, 9.5), "n_bjet": (4, -0.5, 3.5),
    "ht": (20, 0, 2000), "min_dphi": (16, 0, 3.2), "top_score": (20, 0, 1), "top_pt": (20, 0, 1000),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_datasets_have_process_and_inputs(name):
    config = get_config(name)
    assert len(config.datasets) > 0
    for dataset in config.datasets:
        assert len(dataset.processes) == 1, dataset.name
        process = dataset.processes.get_first()
        assert process.is_data == dataset.is_data
        if dataset.x.synthetic:
            assert dataset.x.generator["files"] >= 1
        else:
            assert dataset.x.keys and all(key.startswith("/") for key in dataset.x.keys)
            assert len(dataset.x.file_lists) == len(dataset.x.keys) and not dataset.x.files
        if not dataset.is_data:
            xsec = process.get_xsec(config.campaign.ecm)
            assert xsec.nominal > 0, dataset.name


def test_synthetic_datasets_and_processes(config):
    assert sorted(config.datasets.names()) == sorted(SYNTH_DATASETS)
    top_level = {p.name for p in config.processes}
    assert {"data", "tt", "st", "wjets", "znunu", "ttv", "signal"} <= top_level
    tt = config.get_process("tt")
    children = sum(tt.get_process(f"tt_{c}").get_xsec(13).nominal for c in ("sl", "dl", "fh"))
    assert children == pytest.approx(tt.get_xsec(13).nominal)
    assert tt.get_xsec(13).nominal == 831.76
    assert config.x.luminosity.nominal == 59830.0
    assert config.x.luminosity.get_uncertainty("lumi", direction="up") == pytest.approx(0.025 * 59830.0)


@pytest.mark.parametrize("name", CONFIGS)
def test_shifts_up_and_down(name):
    config = get_config(name)
    assert config.get_shift("nominal").is_nominal
    for source, kind in SHAPE_SOURCES:
        for direction in ("up", "down"):
            shift = config.get_shift(f"{source}_{direction}")
            assert shift.type == od.Shift.SHAPE and shift.has_tag(kind)
    sources = {od.Shift.split_name(s.name)[0] for s in config.shifts if not s.is_nominal}
    for source in sources:
        assert config.has_shift(f"{source}_up") and config.has_shift(f"{source}_down"), source
    assert config.get_shift("lumi_up").type == od.Shift.RATE
    for process in config.x.mc_processes:
        assert config.get_shift(f"xsec_{process.name}_down").type == od.Shift.RATE


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_pass_their_checks(name):
    from analysis.physics.checks import check_config

    check_config(get_config(name))


@pytest.mark.parametrize("name", CONFIGS)
def test_categories_and_variables(name):
    config = get_config(name)
    assert sorted(config.categories.names()) == ["cr_tt_1l", "cr_w_1l", "sr_0l", "sr_1l"]
    assert [c.name for c in config.categories if c.has_tag("signal")] == ["sr_0l", "sr_1l"]
    assert [c.name for c in config.categories if c.has_tag("control")] == ["cr_tt_1l", "cr_w_1l"]
    # real data: every signal region blind; synthetic data: none
    assert config.x.blinded_categories == ([] if name == "run2_2018_synth" else ["sr_0l", "sr_1l"])
    for category in config.categories:
        assert "met > 250" in category.selection
    for variable, (n, low, high) in ANALYSIS_VARIABLES.items():
        assert config.get_variable(variable).binning == (n, low, high)


def test_campaign_values_differ_where_they_should():
    run2, run3 = get_config("run2_2018"), get_config("run3_2022")
    assert run2.x.objects["btag"]["value"] == 0.2783 and run2.x.objects["btag"]["working_point"] == "M"
    assert run3.x.objects["btag"]["value"] != 0.2783
    # the scale factors take the threshold's working point, by its name
    assert {run2.x.corrections[k]["fixed"]["working_point"] for k in ("btag_heavy", "btag_light")} == {"M"}
    assert "Flag_eeBadScFilter" in run2.x.met_filters["data"]
    assert "Flag_eeBadScFilter" not in run2.x.met_filters["mc"]
    assert run3.x.nano_version == 12 and run2.x.nano_version == 9
    assert run2.x.redirectors[0].startswith("root://")


def test_unknown_names_list_valid_ones(config):
    with pytest.raises(TmetError, match="unknown dataset 'tt_foo'.*tt_sl"):
        get_dataset(config, "tt_foo")
    with pytest.raises(TmetError, match="unknown shift 'jes_sideways'.*jes_up"):
        get_shift(config, "jes_sideways")
    with pytest.raises(TmetError, match="unknown config 'run1'.*run2_2018_synth"):
        get_config("run1")


def test_empty_real_file_list_is_a_clear_error():
    dataset = get_config("run2_2018").get_dataset("tt_sl")
    with pytest.raises(TmetError, match="tt_sl.*is empty.*dasgoclient"):
        dataset_files(dataset)
