"""Shared fixtures: the default config and small synthetic NanoAOD files made by the real generator."""

import os
import sys
import threading
import warnings

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
os.environ.setdefault("TMET_BASE", REPO)
warnings.filterwarnings("ignore", category=UserWarning, module="ROOT")

# the real XRootD server fixtures (xrootd_server, xrootd_base_dir) for every test module
pytest_plugins = ["tests.xrootd_server"]

# the longest modules, collected first: pytest-xdist (--dist loadfile) hands whole modules to
# its workers in collection order, and a long module collected last (test_trust.py, in
# alphabetical order) kept one worker busy while the other had nothing left. The facility
# tests stay where they are: they wait for the workers' environment made in the background.
LONGEST_FIRST = ("test_trust.py", "test_real_nanoaod.py", "test_notebook.py")

# events per generated test file: small enough for a fast suite, large enough that every
# category of docs/physics.md is populated
SMALL_EVENTS = 4000


def pytest_sessionstart(session):
    """Start making the facility workers' environment (tests/facility_cluster.py: a pip install
    of requirements.txt, minutes the first time) in the background of the whole run, where
    the facility tests can run (as root) and it is not made yet; their fixture waits for it."""
    from tests.facility_cluster import worker_environment, worker_environment_ready

    if os.geteuid() == 0 and not hasattr(session.config, "workerinput") and not worker_environment_ready():
        threading.Thread(target=worker_environment, daemon=True).start()


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each module's order kept


@pytest.fixture(scope="session")
def config():
    from config.analysis import get_config

    return get_config("run2_2018_synth")


@pytest.fixture(scope="session")
def generate(config, tmp_path_factory):
    """generate(dataset, file_index=0, n_events=SMALL_EVENTS) -> path of a generated file (cached)."""
    from analysis.physics.generator import generate_file

    base = tmp_path_factory.mktemp("samples")
    cache = {}

    def make(dataset_name, file_index=0, n_events=SMALL_EVENTS):
        key = (dataset_name, file_index, n_events)
        if key not in cache:
            dataset = config.get_dataset(dataset_name)
            path = str(base / f"{dataset_name}_{file_index}_{n_events}.root")
            generate_file(path, config, dataset, file_index, n_events=n_events)
            cache[key] = path
        return cache[key]

    return make


@pytest.fixture(scope="session")
def nanoaod(generate, config, tmp_path_factory):
    """nanoaod(dataset, file_index=0, n_events=SMALL_EVENTS) -> path of a generated file after
    STEP 1 (TopCandidates: with its top candidates), what a skim reads (cached)."""
    from analysis.physics.top_candidates import write_top_candidates

    base = tmp_path_factory.mktemp("step1")
    cache = {}

    def make(dataset_name, file_index=0, n_events=SMALL_EVENTS):
        key = (dataset_name, file_index, n_events)
        if key not in cache:
            path = str(base / f"{dataset_name}_{file_index}_{n_events}.root")
            write_top_candidates([generate(dataset_name, file_index, n_events)], path, config,
                                 config.get_dataset(dataset_name))
            cache[key] = path
        return cache[key]

    return make


@pytest.fixture(scope="session")
def friends(generate, config, tmp_path_factory):
    """[(input, its STEP 1 friend file)] of the two generated tt_sl files the skim fixture's
    STEP 1 copies come from (top_candidates_output: friend)."""
    from analysis.physics.top_candidates import write_top_candidate_friends

    base = tmp_path_factory.mktemp("friends")
    inputs = [generate("tt_sl", i) for i in range(2)]
    outputs = [str(base / f"tt_sl_{i}_friend.root") for i in range(2)]
    write_top_candidate_friends(inputs, outputs, config, config.get_dataset("tt_sl"))
    return list(zip(inputs, outputs))


@pytest.fixture(scope="session")
def skimmed(nanoaod, config, tmp_path_factory):
    """{dataset: (inputs, skim path)} for a two-file MC skim (tt_sl) and a data skim."""
    from analysis.physics.skim import skim_files

    out = tmp_path_factory.mktemp("skims")
    result = {}
    for name, files in (("tt_sl", 2), ("data_met", 1)):
        inputs = [nanoaod(name, i) for i in range(files)]
        path = str(out / f"{name}.root")
        skim_files(inputs, path, config, config.get_dataset(name).is_data)
        result[name] = (inputs, path)
    return result


@pytest.fixture(scope="session")
def btag_efficiency(skimmed, config, tmp_path_factory):
    """The b-tag efficiency JSON of the tt_sl test skim."""
    from analysis.physics.btag import count_jets, efficiencies, write_efficiency_json

    path = str(tmp_path_factory.mktemp("btag") / "btag_efficiency.json")
    write_efficiency_json(path, config, efficiencies(count_jets([skimmed["tt_sl"][1]], config)), "test")
    return path


@pytest.fixture(scope="session")
def dask_client():
    """A real Dask LocalCluster with two single-threaded worker processes."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def outputs_in(directory):
    """The outputs in a store directory, sorted: what a user sees, not tmet's own .tmet/ files."""
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def law_env(base, store=None, **extra):
    """Environment for `law run` in a temporary store, with the environment variables ``extra``."""
    import subprocess

    env = dict(os.environ)
    env.update({
        "TMET_BASE": REPO, "TMET_STORE": store or str(base / "store"), "LAW_HOME": str(base / "law_home"),
        "LAW_CONFIG_FILE": os.path.join(REPO, "law.cfg"), "PYTHONPATH": REPO,
        "PYTHONWARNINGS": "ignore::UserWarning:ROOT", **extra,
    })
    subprocess.run(["law", "index"], env=env, check=True, capture_output=True)
    return env


def copy_of_repository(base):
    """The code and config of tmet in ``base`` (no store, no venv): a checkout to edit."""
    import tarfile

    target = base / "repo"
    with tarfile.open(base / "repo.tar", "w") as tar:
        for name in ("analysis", "config", "tasks", "law.cfg", "data"):
            tar.add(os.path.join(REPO, name), arcname=name, filter=lambda t: None if "__pycache__" in t.name else t)
    with tarfile.open(base / "repo.tar") as tar:
        tar.extractall(target)
    return target


def repository_env(base, repo=REPO, store=None, **extra):
    """law_env for the checkout ``repo`` (e.g. a copy_of_repository), with the suite's build
    cache: the graphs a copy leaves unchanged are not built again."""
    from analysis.engine.build import BUILD_DIR

    env = law_env(base, store, TMET_BUILD_DIR=BUILD_DIR, **extra)
    env.update(TMET_BASE=str(repo), PYTHONPATH=str(repo), LAW_CONFIG_FILE=os.path.join(repo, "law.cfg"))
    return env


def readme_example(kind):
    """An example of the README's cheat sheet, as a user copies it: "category" (the text of
    the new category's entry), "dataset" (the YAML of the dataset entry, parsed) or
    "weight_shift" (the add_weight_shift call)."""
    import re

    import yaml

    text = open(os.path.join(REPO, "README.md")).read()
    if kind == "category":
        return re.search(r"\| add a category \|[^|]*e\.g\. `([^`]+)`", text).group(1)
    block = re.search(r"```yaml\n(.*?)```" if kind == "dataset" else r"```python\n(.*?)```", text, re.S).group(1)
    return yaml.safe_load(block) if kind == "dataset" else block


def tiny_law_env(base, datasets=None, events_per_file=2000, store=None, **extra):
    """law_env with a tiny copy of the synthetic datasets.

    ``datasets``: the datasets to keep (one file each); None keeps all with their file counts.
    """
    import yaml

    with open(os.path.join(REPO, "config", "run2_2018_synth_datasets.yaml")) as f:
        content = yaml.safe_load(f)
    if datasets is not None:
        content["datasets"] = {name: content["datasets"][name] for name in datasets}
        for entry in content["datasets"].values():
            entry["generator"]["files"] = 1
    content["generator_defaults"]["events_per_file"] = events_per_file
    (base / "tiny.yaml").write_text(yaml.safe_dump(content))
    return law_env(base, store, TMET_DATASETS_RUN2_2018_SYNTH=str(base / "tiny.yaml"), **extra)


def law_run(env, *args, version="v1"):
    """(exit code, output) of `law run <args> --version <version>` in ``env``."""
    import subprocess

    proc = subprocess.run(["law", "run", *args, "--version", version], env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr
