"""`law run` as a user types it, on every shipped config: --print-status and --print-output
work on every task (also where a file list is not filled yet, or a config has no signal),
and a config without a signal dataset is an error naming it, not a silent success."""

import pytest

from tests.conftest import law_env, law_run

# per config: a task line of each family whose graph --print-status walks whole (-1)
TASKS = {
    "run2_2018_synth": [("Limits",), ("Plots",), ("Yields",), ("Snapshot", "--dataset", "data_met"),
                        ("GenerateSample", "--dataset", "tt_sl")],
    "run2_2018": [("Limits",), ("Plots",), ("Yields",), ("Snapshot", "--dataset", "tt_sl", "--shift", "jes_up")],
    "run3_2022": [("Limits",), ("Plots",), ("Yields",), ("Snapshot", "--dataset", "data_jetmet_c")],
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return law_env(tmp_path_factory.mktemp("cli"))


@pytest.mark.parametrize("config, task", [(c, t) for c, tasks in TASKS.items() for t in tasks],
                         ids=[f"{c}-{t[0]}" for c, tasks in TASKS.items() for t in tasks])
def test_print_status_and_output(env, config, task):
    for interactive in ("--print-status=-1,0", "--print-output=0"):
        code, out = law_run(env, *task, "--config", config, interactive)
        assert code == 0, out
        assert "Traceback" not in out and "RecursionError" not in out, out
        if interactive.startswith("--print-status") and task[0] == "Limits":
            assert ("no signal dataset" in out) == (config == "run3_2022"), out
            if config != "run3_2022":
                assert "Skim(" in out and "Histograms(" in out and "BTagEfficiency(" in out


def test_config_without_signal_is_an_error_naming_it(env):
    code, out = law_run(env, "Datacard", "--config", "run3_2022")
    assert code != 0
    assert "config 'run3_2022' has no signal dataset: Datacard needs one" in out
    assert "Histograms(" not in out.split("Luigi Execution Summary")[-1]


def test_unfilled_file_list_is_an_error_when_run(env):
    code, out = law_run(env, "Skim", "--config", "run2_2018", "--dataset", "tt_sl")
    assert code != 0 and "dataset 'tt_sl': file list" in out and "is empty" in out


def test_where_it_runs_is_a_parameter_of_every_task(env):
    """The README's `law run Datacard --version v1 --executor local`: every task takes
    --executor and --dask-scheduler and hands them to what it requires."""
    code, out = law_run(env, "Datacard", "--executor", "local", "--print-status", "2,0")
    assert code == 0 and "unrecognized arguments" not in out, out
    assert "Histograms(" in out and "Skim(" in out
