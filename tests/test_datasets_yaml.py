"""Bad dataset YAML gives an error that names the file, the dataset and the field."""

import textwrap

import order as od
import pytest

from analysis.errors import TmetError
from config.datasets import add_datasets, read_yaml


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
    add_datasets(read_yaml(str(path)), str(path), campaign, processes)
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
