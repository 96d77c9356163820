"""The law tasks through `law run`, as a user runs them, on a tiny synthetic config in a temporary store."""

import os

import pytest
import uproot

from tests.conftest import law_run, outputs_in, tiny_law_env


@pytest.fixture(scope="module")
def law_env(tmp_path_factory):
    return tiny_law_env(tmp_path_factory.mktemp("law"), events_per_file=3000)


def test_generate_sample_then_nothing_to_do(law_env):
    code, out = law_run(law_env, "GenerateSample", "--dataset", "tt_sl")
    assert code == 0, out
    assert "3 ran successfully" in out
    store = os.path.join(law_env["TMET_STORE"], "GenerateSample", "run2_2018_synth", "tt_sl", "v1")
    files = outputs_in(store)
    assert files == ["sample_0.root", "sample_1.root"]
    with uproot.open(os.path.join(store, files[0])) as f:
        assert f["Events"].num_entries == 3000
    code, out = law_run(law_env, "GenerateSample", "--dataset", "tt_sl")
    assert code == 0 and "ran successfully" not in out and "complete ones were encountered" in out


def test_skim_and_snapshot_chain(law_env):
    code, out = law_run(law_env, "Snapshot", "--dataset", "tt_sl", "--workers", "2")
    assert code == 0, out
    store = law_env["TMET_STORE"]
    skims = outputs_in(os.path.join(store, "Skim", "run2_2018_synth", "tt_sl", "v1"))
    assert sorted(skims) == ["skim_0.root", "skim_1.root"]
    snapshot = os.path.join(store, "Snapshot", "run2_2018_synth", "tt_sl", "v1", "snapshot__nominal.root")
    with uproot.open(snapshot) as f:
        columns = set(f["Events"].keys())
    assert {"weight", "w_btag", "w_pu", "cat_sr_0l", "met", "top_score"} <= columns
    code, out = law_run(law_env, "Skim", "--dataset", "data_met")
    assert code == 0, out


def test_unknown_dataset_and_shift_fail_clearly(law_env):
    code, out = law_run(law_env, "Skim", "--dataset", "tt_foo")
    assert code != 0 and "unknown dataset 'tt_foo'" in out and "tt_sl" in out
    code, out = law_run(law_env, "Snapshot", "--dataset", "data_met", "--shift", "jes_up")
    assert code != 0 and "shift 'jes_up' has no Snapshot output for dataset 'data_met'" in out
