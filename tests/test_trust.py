"""Trust, as a user meets it with `law run`: a changed config value or kernel reruns exactly
what depends on it; a killed, interrupted or concurrent run never leaves or hands over a
partial output; names that would leave the store are refused; broken inputs and Dask
clusters end the run clearly instead of crashing or hanging it."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import uproot
import yaml

from tests.conftest import REPO, copy_of_repository, outputs_in, readme_example, repository_env

DATASETS = ["tt_sl", "tdm_ps_m500", "data_met"]
SKIM = ("Skim", "run2_2018_synth", "tt_sl")


def tiny_yaml(path, events, datasets=DATASETS, **generator):
    with open(os.path.join(REPO, "config", "run2_2018_synth_datasets.yaml")) as f:
        content = yaml.safe_load(f)
    content["datasets"] = {name: content["datasets"][name] for name in datasets}
    for entry in content["datasets"].values():
        entry["generator"].update(files=1, **generator)
    content["generator_defaults"]["events_per_file"] = events
    path.write_text(yaml.safe_dump(content))
    return str(path)


def env_of(base, repo=REPO, events=1500, store=None, **extra):
    return repository_env(base, repo, store, TMET_DATASETS_RUN2_2018_SYNTH=tiny_yaml(base / "tiny.yaml", events),
                          TMET_EXECUTOR="local", **extra)


def run(env, *args, version="v1"):
    proc = subprocess.run(["law", "run", *args, "--version", version], env=env, capture_output=True)
    # ROOT may quote a corrupt file's bytes
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


def ran(out):
    """{task family: count} of the tasks a `law run` ran (its luigi summary)."""
    summary = out.split("ran successfully:")[1].split("\n\n")[0] if "ran successfully:" in out else ""
    return {family: int(n) for n, family in re.findall(r"- (\d+) (\w+)\(", summary)}


def edit(path, old, new):
    text = open(path).read()
    assert old in text, (path, old)
    open(path, "w").write(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """A checkout with the README's weight shift added (config/shifts.py), its chain run."""
    base = tmp_path_factory.mktemp("edited")
    repo = copy_of_repository(base)
    shifts = repo / "config" / "shifts.py"
    anchor = "    mc_processes = config.x.mc_processes\n"
    assert anchor in shifts.read_text()
    shifts.write_text(shifts.read_text().replace(anchor, readme_example("weight_shift") + anchor, 1))
    env = env_of(base, repo)
    for task in ("Datacard", "Yields"):
        code, out = run(env, task)
        assert code == 0, out
    return repo, env


def test_config_and_code_changes_rerun_exactly_what_depends_on_them(edited):
    repo, env = edited
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {}, out
    # the README's weight shift is in the histograms and the cards
    store = env["TMET_STORE"]
    assert os.path.exists(os.path.join(store, "Histograms", "run2_2018_synth", "tt_sl", "v1", "hists__prefire_up.root"))
    card = open(os.path.join(store, "Datacard", "run2_2018_synth", "v1", "tdm_ps_m500", "datacard_combined.txt")).read()
    assert re.search(r"^prefire shape +1 ", card, re.M), card
    # a category cut: the histograms and what reads them
    edit(repo / "config" / "categories.py", '"sr_0l": (SIGNAL, ["met > 250"', '"sr_0l": (SIGNAL, ["met > 400"')
    code, out = run(env, "Datacard", "--print-status", "1,0")
    assert "Histograms(version=v1, config=run2_2018_synth, dataset=tt_sl, shift=all, out-of-date: config " \
           "(categories))" in out, out
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {"Histograms": 3, "Datacard": 1}, out
    code, out = run(env, "Yields")
    assert code == 0 and ran(out) == {"Yields": 1}, out
    # a cross section: only what applies it
    edit(repo / "config" / "processes.py", "Number(831.76,", "Number(850.0,")
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {"Datacard": 1}, out
    code, out = run(env, "Yields")
    assert code == 0 and ran(out) == {"Yields": 1}, out
    # a skim cut: the skims (3 branches) and everything after them, not the samples
    edit(repo / "config" / "selection.py", '"met_min": 200.0', '"met_min": 190.0')
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {"Skim": 3, "BTagEfficiency": 2, "Histograms": 3, "Datacard": 1}, out
    # a kernel of the analysis graph: what runs the graph, not the skims
    with open(repo / "analysis" / "cpp" / "tmet.h", "a") as f:
        f.write("// a changed kernel\n")
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {"BTagEfficiency": 2, "Histograms": 3, "Datacard": 1}, out
    # the normalisation of the Snapshot (physics that was in its task module): the Snapshot only
    code, out = run(env, "Snapshot", "--dataset", "tt_sl")
    assert code == 0, out
    edit(repo / "analysis" / "physics" / "snapshot.py", "norm = 1.0 if is_data else normalization(",
         "norm = 1.0 if is_data else 1.0 * normalization(")
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {}, out
    code, out = run(env, "Snapshot", "--dataset", "tt_sl")
    assert code == 0 and ran(out) == {"Snapshot": 1}, out
    # which datasets the synthetic data mixes (was in the task module): the samples and all after them
    edit(repo / "analysis" / "physics" / "generator.py", "if d.x.synthetic]", "if d.x.synthetic and d.name != 'x']")
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {"GenerateSample": 3, "TopCandidates": 3, "Skim": 3, "BTagEfficiency": 2,
                                      "Histograms": 3, "Datacard": 1}, out
    # a new top tagger (another Keras file and its scaler): STEP 1 and all after it, not the samples
    for name in ("top_tagger.h5", "top_tagger_scaler.json"):
        shutil.copy(os.path.join(REPO, "tests", "data", "models", name.replace("top_tagger", "keras3_torch_tagger")),
                    repo / "data" / "models" / "run2_2018_synth" / name)
    code, out = run(env, "Datacard")
    assert code == 0 and ran(out) == {"TopCandidates": 3, "Skim": 3, "BTagEfficiency": 2, "Histograms": 3,
                                      "Datacard": 1}, out
    # and the record says what made an output
    histograms = os.path.join(env["TMET_STORE"], "Histograms", "run2_2018_synth", "tt_sl", "v1", "hists__nominal.root")
    shown = subprocess.run(["python", "-m", "tasks.provenance", histograms], env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and '"task": "Histograms"' in shown.stdout and '"categories"' in shown.stdout


def wait_for(condition, timeout=60):
    start = time.time()
    while time.time() - start < timeout:
        if condition():
            return True
        time.sleep(0.05)
    return False


def start(env, *args, version):
    return subprocess.Popen(["law", "run", *args, "--version", version], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_two_concurrent_runs(tmp_path):
    """The same graph (a dataset's histograms, from its samples on) started twice on one
    store: both end well, and the histograms are those of a run alone."""
    task = ("Histograms", "--dataset", "tt_sl", "--shift", "all")
    env = env_of(tmp_path, events=1500)
    first = start(env, *task, version="v1")
    time.sleep(3)
    second = start(env, *task, version="v1")
    outputs = [proc.communicate(timeout=600)[0] for proc in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    (tmp_path / "reference").mkdir()
    reference = env_of(tmp_path / "reference", events=1500)
    code, out = run(reference, *task)
    assert code == 0, out
    histograms = ("Histograms", "run2_2018_synth", "tt_sl", "v1")
    names = outputs_in(os.path.join(reference["TMET_STORE"], *histograms))
    assert len(names) == 23 and outputs_in(os.path.join(env["TMET_STORE"], *histograms)) == names
    for name in names:
        made, expected = (os.path.join(e["TMET_STORE"], *histograms, name) for e in (env, reference))
        with uproot.open(made) as fm, uproot.open(expected) as fe:
            for key, classname in fe.classnames(cycle=False).items():
                if classname.startswith("TH1"):
                    np.testing.assert_array_equal(fm[key].values(flow=True), fe[key].values(flow=True))


@pytest.mark.parametrize("args, message", [
    (("--version", "../../x"), "--version '../../x' is not a valid name"),
    (("--version", "/tmp/x"), "--version '/tmp/x' is not a valid name"),
    (("--version", "v1", "--config", ".."), "--config '..' is not a valid name"),
])
def test_names_that_leave_the_store_are_refused(tmp_path, args, message):
    env = env_of(tmp_path)
    proc = subprocess.run(["law", "run", "Skim", "--dataset", "tt_sl", *args], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
    assert not os.path.exists(env["TMET_STORE"])


def test_dataset_names_that_leave_the_store_are_refused(tmp_path):
    env = env_of(tmp_path)
    content = yaml.safe_load(open(env["TMET_DATASETS_RUN2_2018_SYNTH"]))
    content["datasets"]["../../x"] = content["datasets"].pop("tt_sl")
    open(env["TMET_DATASETS_RUN2_2018_SYNTH"], "w").write(yaml.safe_dump(content))
    code, out = run(env, "Skim", "--dataset", "data_met")
    assert code != 0 and "dataset '../../x' is not a valid name" in out and "tiny.yaml" in out


def test_corrupt_basket_is_an_error_naming_the_file(tmp_path):
    env = env_of(tmp_path, events=20000)
    code, out = run(env, "GenerateSample", "--dataset", "tt_sl")
    assert code == 0, out
    sample = os.path.join(env["TMET_STORE"], "GenerateSample", "run2_2018_synth", "tt_sl", "v1", "sample_0.root")
    size = os.path.getsize(sample)
    with open(sample, "r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    code, out = run(env, "Skim", "--dataset", "tt_sl")
    assert code not in (0, -11, 139), out
    assert "TmetError" in out and sample in out, out
    assert "Luigi Execution Summary" in out  # the law process survived to report
    assert not os.path.exists(os.path.join(env["TMET_STORE"], *SKIM, "v1", "skim_0.root"))


@pytest.fixture(scope="module")
def skimmed_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("dask_faults")
    env = env_of(base, events=1500)
    code, out = run(env, "BTagEfficiency", "--dataset", "tt_sl")
    assert code == 0, out
    return env


def dask(*args, env):
    return subprocess.Popen([shutil.which("dask"), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_scheduler_fails_at_once(skimmed_store):
    start_time = time.time()
    code, out = run(dict(skimmed_store, TMET_EXECUTOR="dask"), "Histograms", "--dataset", "tt_sl",
                    "--dask-scheduler", f"tcp://127.0.0.1:{free_port()}")
    assert code != 0 and "cannot reach the Dask scheduler" in out
    assert time.time() - start_time < 20 and "ran successfully" not in out


def test_cluster_without_workers_fails_after_the_wait(skimmed_store):
    port = free_port()
    scheduler = dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", env=skimmed_store)
    try:
        time.sleep(3)
        code, out = run(dict(skimmed_store, TMET_EXECUTOR="dask", TMET_DASK_WORKER_WAIT="3"), "Histograms",
                        "--dataset", "tt_sl", "--dask-scheduler", f"tcp://127.0.0.1:{port}")
        assert code != 0 and f"the Dask scheduler tcp://127.0.0.1:{port} has no worker after 3 s" in out, out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(scheduler.pid, signal.SIGKILL)


def test_lost_worker_fails_clearly(skimmed_store):
    from dask.distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(skimmed_store, TMET_EXECUTOR="dask", TMET_DASK_WORKER_WAIT="5")
    scheduler = dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", env=env)
    worker = dask("worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard", env=env)
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=30)
            proc = start(env, "Histograms", "--dataset", "tt_sl", "--dask-scheduler", address, version="v1")
            # the only worker is lost while it works on the graph
            assert wait_for(lambda: any(client.processing().values()), timeout=120)
            os.killpg(worker.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=120)
        assert proc.returncode != 0, out
        assert f"the Dask cluster of {address} lost every worker for 5 s" in out, out
        histograms = os.path.join(env["TMET_STORE"], "Histograms", "run2_2018_synth", "tt_sl", "v1")
        assert not os.path.isdir(histograms) or not outputs_in(histograms)
    finally:
        for process in (worker, scheduler):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def test_an_output_that_is_not_what_its_record_says_is_reported_and_remade(tmp_path):
    env = env_of(tmp_path)
    code, out = run(env, "GenerateSample", "--dataset", "tt_sl")
    assert code == 0, out
    sample = os.path.join(env["TMET_STORE"], "GenerateSample", "run2_2018_synth", "tt_sl", "v1", "sample_0.root")
    size = os.path.getsize(sample)
    for garbage, reason in ((b"x" * size, "not a ROOT file"), (b"root" + b"\0" * 100, "changed since it was made")):
        open(sample, "wb").write(garbage)
        code, out = run(env, "GenerateSample", "--dataset", "tt_sl", "--branch", "0", "--print-status", "0,0")
        assert f"out-of-date: {reason}" in out, out
        code, out = run(env, "GenerateSample", "--dataset", "tt_sl")
        assert code == 0 and ran(out).get("GenerateSample"), out
        with uproot.open(sample) as f:
            assert f["Events"].num_entries == 1500


def test_a_requirement_changed_after_scheduling_stops_its_dependent(tmp_path):
    """A task starting to run checks its requirements' outputs against their records (luigi's
    own check, which walks the graph again, is off): a skim remade or removed since the run
    was scheduled (here by hand, between scheduling and the run) is an error naming it, and
    the dependent writes nothing."""
    env = env_of(tmp_path)
    code, out = run(env, "Skim", "--dataset", "tt_sl")
    assert code == 0, out
    skim = os.path.join(env["TMET_STORE"], *SKIM, "v1", "skim_0.root")
    btag = os.path.join(env["TMET_STORE"], "BTagEfficiency", "run2_2018_synth", "tt_sl", "v1", "btag_efficiency.json")
    start_btag = "from tasks.btag import BTagEfficiency; BTagEfficiency(version='v1', dataset='tt_sl').run()"
    for change, reason in ((lambda: open(skim, "ab").write(b"\0" * 64), "changed since it was made"),
                           (lambda: os.remove(skim), f"missing {skim}")):
        change()
        proc = subprocess.run(["python", "-c", start_btag], env=env, capture_output=True, text=True)
        assert proc.returncode != 0, proc.stdout + proc.stderr
        assert "BTagEfficiency cannot run: its requirement Skim" in proc.stderr and reason in proc.stderr, proc.stderr
        assert not os.path.exists(btag)
