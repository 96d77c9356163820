"""Bad dataset YAML gives an error that names the file, the dataset and the field."""

import os
import textwrap

import order as od
import pytest
import yaml

from analysis.errors import TmetError
from config.datasets import add_datasets, read_yaml
from tests.conftest import REPO


@pytest.fixture
def processes():
    return {
        "tt_sl": od.Process("tt_sl_test", 90001, xsecs={13: 1.0}),
        "data": od.Process("data_test", 90002, is_data=True),
    }


def load(tmp_path, text, processes):
    path = tmp_path / "datasets.yaml"
    path.write_text(textwrap.dedent(text))
    campaign = od.Campaign("test_campaign", 99, ecm=13)
    add_datasets(read_yaml(str(path)), str(path), campaign, processes, 9, "full")
    return campaign, str(path)


def test_valid_file_with_file_list(tmp_path, processes):
    (tmp_path / "files.txt").write_text("# comment\n/store/mc/a.root\n\n/store/mc/b.root  # trailing\n")
    campaign, _ = load(tmp_path, """
        datasets:
          tt:
            process: tt_sl
            data: false
            files: files.txt
          obs:
            process: data
            data: true
            files: [/data/x.root]
    """, processes)
    from config.datasets import dataset_files
    assert dataset_files(campaign.get_dataset("tt")) == ["/store/mc/a.root", "/store/mc/b.root"]
    assert dataset_files(campaign.get_dataset("obs")) == ["/data/x.root"]
    assert campaign.get_dataset("obs").is_data


def test_missing_field(tmp_path, processes):
    with pytest.raises(TmetError, match=r"datasets.yaml, dataset 'tt': missing field 'data'"):
        load(tmp_path, """
            datasets:
              tt:
                process: tt_sl
                files: [a.root]
        """, processes)


def test_unknown_process_lists_valid(tmp_path, processes):
    with pytest.raises(TmetError, match=r"dataset 'tt'.*unknown process 'ttbar'; valid process names: data, tt_sl"):
        load(tmp_path, """
            datasets:
              tt:
                process: ttbar
                data: false
                files: [a.root]
        """, processes)


def test_files_and_generator_exclusive(tmp_path, processes):
    with pytest.raises(TmetError, match="exactly one of 'files'"):
        load(tmp_path, """
            datasets:
              tt:
                process: tt_sl
                data: false
                files: [a.root]
                generator: {seed: 1}
        """, processes)


def test_data_flag_must_match_process(tmp_path, processes):
    with pytest.raises(TmetError, match="contradicts process"):
        load(tmp_path, """
            datasets:
              tt:
                process: tt_sl
                data: true
                files: [a.root]
        """, processes)


def test_unknown_field_and_bad_syntax(tmp_path, processes):
    with pytest.raises(TmetError, match=r"unknown field\(s\) \['xsec'\]"):
        load(tmp_path, """
            datasets:
              tt: {process: tt_sl, data: false, files: [a.root], xsec: 3}
        """, processes)
    with pytest.raises(TmetError, match="invalid YAML in .*datasets.yaml"):
        load(tmp_path, "datasets: [unclosed\n", processes)


def settings_config(tmp_path, monkeypatch, settings):
    """run2_2018 built with a datasets YAML that holds ``settings``."""
    from config import campaigns
    from config.analysis import build_config

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"settings": settings, "datasets": {
        "tt": {"process": "tt_sl", "data": False, "files": ["/data/tt.root"]}}}))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018", str(path))
    return build_config("run2_2018", campaigns.ul2018()), path


def test_settings_override_campaign_values_without_code(tmp_path, monkeypatch):
    (tmp_path / "golden.json").write_text("{}")
    config, _ = settings_config(tmp_path, monkeypatch, {
        "triggers": [], "lumi_mask": "golden.json", "redirectors": ["root://my.site//"],
        "met_filters": {"mc": ["Flag_goodVertices"], "data": ["Flag_goodVertices", "Flag_eeBadScFilter"]},
        "branch_map": {"MET_pt": "PuppiMET_pt"}, "corrections": {"jes": "my_jerc.json.gz"},
    })
    assert config.x.triggers == [] and config.x.redirectors == ["root://my.site//"]
    assert config.x.lumi_mask == str(tmp_path / "golden.json")
    assert config.x.met_filters["data"] == ["Flag_goodVertices", "Flag_eeBadScFilter"]
    assert config.x.branch_map == {"MET_pt": "PuppiMET_pt"}
    assert config.x.corrections["jes"]["file"] == str(tmp_path / "my_jerc.json.gz")
    assert config.x.corrections["jes"]["name"] == "Summer19UL18_V5_MC_Total_AK4PFchs"
    config, _ = settings_config(tmp_path, monkeypatch, {"lumi_mask": None, "met_filters": ["Flag_goodVertices"]})
    assert config.x.lumi_mask is None and config.x.met_filters == {"mc": ["Flag_goodVertices"],
                                                                    "data": ["Flag_goodVertices"]}


@pytest.mark.parametrize("settings, message", [
    ({"trigger": []}, r"settings: unknown key\(s\) \['trigger'\]; known: triggers, met_filters"),
    ({"corrections": {"jec": "x.json"}}, r"settings: unknown correction 'jec'; known: btag_heavy"),
    ({"triggers": "HLT_X"}, r"settings: 'triggers' must be a list of names"),
    ({"met_filters": {"mc": []}}, r"settings: 'met_filters' as a mapping needs exactly 'mc' and 'data'"),
])
def test_bad_settings_name_file_and_key(tmp_path, monkeypatch, settings, message):
    with pytest.raises(TmetError, match=r"mine.yaml, " + message):
        settings_config(tmp_path, monkeypatch, settings)


@pytest.mark.parametrize("generator, message", [
    ({"met_slop": 100.0}, r"dataset 'sig': unknown generator setting\(s\) \['met_slop'\]"),
    ({"files": "two"}, r"dataset 'sig': generator setting 'files' must be a whole number >= 1, got 'two'"),
    ({"lepton_multiplicity": [1, 0]}, r"generator setting 'lepton_multiplicity' must be three non-negative"),
    ({"nano_version": 11}, r"generator setting 'nano_version' must be a NanoAOD version the generator writes"),
])
def test_generator_settings_checked_by_name_and_type(tmp_path, monkeypatch, generator, message):
    """Checked on the built config, before any task runs (analysis.physics.checks)."""
    from analysis.physics.checks import check_config
    from config import campaigns
    from config.analysis import build_config

    content = yaml.safe_load(open(os.path.join(REPO, "config", "run2_2018_synth_datasets.yaml")))
    content["datasets"] = {"sig": {"process": "tt_sl", "data": False, "generator": generator}}
    path = tmp_path / "synth.yaml"
    path.write_text(yaml.safe_dump(content))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018_SYNTH", str(path))
    with pytest.raises(TmetError, match="synth.yaml, .*" + message):
        check_config(build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False))


def test_who_makes_the_top_candidates(tmp_path, processes):
    campaign, _ = load(tmp_path, """
        datasets:
          tt:
            process: tt_sl
            data: false
            files: [a.root]
          tt_step1:
            process: tt_sl
            data: false
            files: [b.root]
            top_candidates: in_files
    """, processes)
    assert campaign.get_dataset("tt").x.top_candidates == "tmet"
    assert campaign.get_dataset("tt_step1").x.top_candidates == "in_files"
    with pytest.raises(TmetError, match=r"dataset 'tt': 'top_candidates' must be one of tmet, in_files, got 'yes'"):
        load(tmp_path, """
            datasets:
              tt:
                process: tt_sl
                data: false
                files: [a.root]
                top_candidates: yes_please
        """.replace("yes_please", "'yes'"), processes)
    with pytest.raises(TmetError, match=r"dataset 'tt': a synthetic dataset's files hold no top candidates"):
        load(tmp_path, """
            datasets:
              tt:
                process: tt_sl
                data: false
                generator: {seed: 1}
                top_candidates: in_files
        """, processes)


def test_settings_give_the_groups_top_tagger(tmp_path):
    from config.campaigns import ul2018, with_settings

    settings = {"top_tagger": {"model": "models/tagger.h5", "scaler": "models/tagger.json", "features": ["a", "b"],
                               "working_point": 0.65}}
    values = with_settings(ul2018(), settings, str(tmp_path / "my.yaml"))
    assert values["top_tagger"] == {"model": str(tmp_path / "models" / "tagger.h5"),
                                    "scaler": str(tmp_path / "models" / "tagger.json"), "features": ["a", "b"],
                                    "working_point": 0.65}
    with pytest.raises(TmetError, match=r"my.yaml, settings: 'top_tagger' takes a mapping of model, scaler, features"):
        with_settings(ul2018(), {"top_tagger": {"file": "x.h5"}}, str(tmp_path / "my.yaml"))


def test_a_model_without_its_working_point_is_refused(tmp_path, monkeypatch):
    """A new model with another score scale would silently get the campaign model's cut."""
    from analysis.physics.checks import check_working_points
    from config.campaigns import ul2018, with_settings

    with pytest.raises(TmetError, match=r"my.yaml, settings: 'top_tagger' gives the model models/tagger.h5 without its "
                                        r"working point: .*give top_tagger: working_point"):
        with_settings(ul2018(), {"top_tagger": {"model": "models/tagger.h5", "scaler": "models/tagger.json"}},
                      str(tmp_path / "my.yaml"))
    # a campaign (code) whose tagger has none: refused when a task builds the config
    config = settings_config(tmp_path, monkeypatch, {})[0]
    del config.x.top_tagger["working_point"]
    with pytest.raises(TmetError, match=r"model .*top_tagger.h5 has no working point: give top_tagger: working_point"):
        check_working_points(config)
