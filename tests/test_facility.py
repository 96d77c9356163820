"""The chain on a facility's Dask workers (tests/facility_cluster.py: another unix user, no
access to the client's files), the store on a real XRootD server: tmet itself (where the
workers lack it), the graphs' libraries, the correction files and the client's proxy reach
the workers through Dask; the workers write the samples, STEP 1's outputs, skims and snapshots to the store;
cards and shapes equal those of a local run bin by bin (to rounding: entry ranges summed)."""

import os
import re
import signal
import stat
import subprocess
import time

import numpy as np
import pytest
import uproot

from analysis.engine.worker_setup import WorkerSetup, versions
from analysis.engine.build import BUILD_DIR
from analysis.errors import TmetError
from tests.conftest import law_run, tiny_law_env
from tests.facility_cluster import FacilityCluster
from tests.xrootd_server import FAST_FAIL_ENV

PROXY_TEXT = "-----BEGIN CERTIFICATE----- tmet test proxy, not a real one -----END CERTIFICATE-----"


def started(tmet):
    if os.geteuid() != 0:
        pytest.skip("the facility's workers run as another unix user: needs root (runuser), as in CI")
    return FacilityCluster(2, extra_env=FAST_FAIL_ENV, tmet=tmet).start()


@pytest.fixture(scope="module")
def facility():
    """Workers whose image has tmet installed at the client's commit."""
    cluster = started("installed")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def bare_facility():
    """Workers whose image has the pinned packages but no tmet."""
    cluster = started("shipped")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def build_dir():
    """The client's build cache, which the workers cannot read (mode 0700, as a user's home
    is to other users): what a graph needs must reach them through Dask. The suite's own, so
    that the graphs other tests built are not compiled again."""
    os.makedirs(BUILD_DIR, exist_ok=True)
    os.chmod(BUILD_DIR, 0o700)
    return BUILD_DIR


def fetched(server, path, directory):
    local = os.path.join(directory, path.strip("/").replace("/", "__"))
    subprocess.run(["xrdcp", "-f", "-s", server.file_url(path), local], check=True)
    return local


def remote_files(server, directory):
    listing = subprocess.run(["xrdfs", server.url, "ls", "-R", directory], capture_output=True, text=True,
                             check=True).stdout.split()
    return sorted(p for p in listing if "/." not in p and os.path.splitext(p)[1] in (".txt", ".root", ".json"))


def test_chain_on_workers_without_tmet(bare_facility, xrootd_server, build_dir, tmp_path):
    from dask.distributed import Client

    env = tiny_law_env(tmp_path, ["tt_sl", "tdm_ps_m500", "data_met"], events_per_file=1500,
                       store=xrootd_server.url + "//store/bare", TMET_BUILD_DIR=build_dir)
    with Client(bare_facility.address) as client:  # the workers cannot import tmet
        assert not any(client.run(lambda: __import__("importlib.util").util.find_spec("analysis")).values())
    code, out = law_run(dict(env, TMET_DASK_SCHEDULER=bare_facility.address), "Datacard", version="facility")
    assert code == 0, out + bare_facility.logs()
    # every heavy task ran there: samples, skims and snapshots written, histograms and b-tag counts filled
    with Client(bare_facility.address) as client:
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert {"write_sample", "write_step1", "write_snapshot", "run_partition"} <= set(ran), ran
    code, out = law_run(dict(env, TMET_EXECUTOR="local"), "Datacard", version="local")
    assert code == 0, out
    on_facility = remote_files(xrootd_server, "/store/bare/Datacard/run2_2018_synth/facility")
    here = remote_files(xrootd_server, "/store/bare/Datacard/run2_2018_synth/local")
    assert [p.replace("/facility/", "/local/") for p in on_facility] == here and here
    for remote, local in zip(on_facility, here):
        a, b = fetched(xrootd_server, remote, tmp_path), fetched(xrootd_server, local, tmp_path)
        if remote.endswith(".txt"):
            assert open(a).read().replace("version facility", "version local") == open(b).read(), remote
            continue
        with uproot.open(a) as fa, uproot.open(b) as fb:
            assert sorted(fa.keys()) == sorted(fb.keys())
            for key, cls in fb.classnames().items():
                if cls.startswith("TH1"):
                    np.testing.assert_allclose(fa[key].values(flow=True), fb[key].values(flow=True), rtol=1e-12,
                                               atol=1e-300, err_msg=f"{remote} {key}")
    # nothing partial, nothing temporary on the store
    assert not any(".tmp-" in p for p in subprocess.run(
        ["xrdfs", xrootd_server.url, "ls", "-R", "/store/bare"], capture_output=True, text=True).stdout.split())


def fetched_histograms(server, lfn_dir, shift, directory):
    """{(category, variable): (contents, variances, entries)} of a Histograms output on the server."""
    local = os.path.join(directory, f"{shift}.root")
    subprocess.run(["xrdcp", "-f", "-s", server.file_url(f"{lfn_dir}/hists__{shift}.root"), local], check=True)
    with uproot.open(local) as f:
        return {key.split(";")[0]: (h.values(flow=True), h.variances(flow=True), h.member("fEntries"))
                for key, h in ((k, f[k]) for k, c in f.classnames().items() if c.startswith("TH1"))}


def assert_same_histograms(server, directory, reference, shifts, local_dir, variances=True):
    """The Histograms outputs in ``directory`` equal those in ``reference`` (store paths) bin
    by bin: the same events and weights, summed over other entry ranges (rounding only)."""
    for shift in shifts:
        got = fetched_histograms(server, directory, shift, local_dir)
        expected = fetched_histograms(server, reference, shift, local_dir)
        assert sorted(got) == sorted(expected) and expected
        for key, (contents, squared_errors, entries) in expected.items():
            np.testing.assert_allclose(got[key][0], contents, rtol=1e-12, atol=0, err_msg=f"{shift} {key}")
            if variances:
                np.testing.assert_allclose(got[key][1], squared_errors, rtol=1e-12, atol=0, err_msg=f"{shift} {key}")
            assert got[key][2] == entries


def worker_credentials():
    """What a worker sees of its proxy: the variable, the file's mode and content."""
    path = os.environ.get("X509_USER_PROXY")
    return path, stat.S_IMODE(os.stat(path).st_mode), open(path).read()


def test_histograms_on_workers_that_cannot_read_the_client(facility, xrootd_server, build_dir, tmp_path):
    from dask.distributed import Client

    proxy = tmp_path / "x509up"
    proxy.write_text(PROXY_TEXT)
    proxy.chmod(0o600)
    env = tiny_law_env(tmp_path, ["tt_sl", "data_met"], events_per_file=1500,
                       store=xrootd_server.url + "//store/facility", TMET_BUILD_DIR=build_dir,
                       X509_USER_PROXY=str(proxy))
    task = ["Histograms", "--dataset", "tt_sl", "--shift", "all"]
    code, out = law_run(env, *task, "--dask-scheduler", facility.address, version="facility")
    assert code == 0, out + facility.logs()
    assert PROXY_TEXT not in out
    code, out = law_run(env, *task, "--executor", "local", version="local")
    assert code == 0, out
    prefix = "/store/facility/Histograms/run2_2018_synth/tt_sl"
    assert_same_histograms(xrootd_server, f"{prefix}/facility", f"{prefix}/local", ("nominal", "jes_up", "pu_down"),
                           tmp_path)
    # the proxy reached every worker as a file of its own, readable by the worker only
    with Client(facility.address) as client:
        for path, mode, text in client.run(worker_credentials).values():
            assert path.startswith(facility.directory) and mode == 0o400 and text == PROXY_TEXT
    # and is in no provenance record
    record = subprocess.run(["python", "-m", "tasks.provenance",
                             xrootd_server.file_url(f"{prefix}/facility/hists__nominal.root")],
                            env=env, capture_output=True, text=True, check=True).stdout
    assert "tmet" in record and PROXY_TEXT not in record and str(proxy) not in record


@pytest.mark.parametrize("key, value", [("tmet commit", "0000000"), ("ROOT", "6.00/00")])
def test_a_worker_of_another_tmet_or_root_is_refused(facility, key, value):
    from dask.distributed import Client

    expected = {**versions(), key: value}
    setup = WorkerSetup([], {}, expected)
    with Client(facility.address) as client:
        try:
            with pytest.raises(TmetError, match=r"runs another tmet or ROOT than the client: "
                                                rf"{key} {re.escape(versions()[key])} on the worker, "
                                                rf"{re.escape(value)} on the client"):
                client.register_plugin(setup, name=setup.name)
        finally:
            client.unregister_worker_plugin(setup.name)


def kill_worker_running(client, prefix, timeout=120):
    """SIGKILL the worker process that runs a Dask task of ``prefix`` (its nanny restarts it);
    returns the task's key."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            running = [k for k in keys if str(k).startswith(prefix)]
            if running:
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                return running[0]
        time.sleep(0.01)
    raise AssertionError(f"no Dask task {prefix} ran within {timeout} s")


def test_workers_killed_mid_skim_and_mid_histograms(facility, xrootd_server, build_dir, tmp_path):
    from dask.distributed import Client

    env = tiny_law_env(tmp_path, ["tt_sl"], events_per_file=40000, store=xrootd_server.url + "//store/faults",
                       TMET_BUILD_DIR=build_dir)
    task = ["law", "run", "Histograms", "--dataset", "tt_sl", "--shift", "all"]
    run = subprocess.Popen([*task, "--version", "faults"], env=dict(env, TMET_DASK_SCHEDULER=facility.address),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with Client(facility.address) as client:
            killed = [kill_worker_running(client, "write_snapshot"), kill_worker_running(client, "run_partition")]
        out, _ = run.communicate(timeout=600)
    finally:
        run.kill()
    # the nannies restarted the workers, Dask ran the lost tasks again: the run finished
    assert run.returncode == 0, out + facility.logs()
    assert len(killed) == 2
    code, out = law_run(env, *task[2:], "--executor", "local", version="faults_local")
    assert code == 0, out
    prefix = "/store/faults/Histograms/run2_2018_synth/tt_sl"
    assert_same_histograms(xrootd_server, f"{prefix}/faults", f"{prefix}/faults_local",
                           ("nominal", "jes_down", "btag_up"), tmp_path, variances=False)
    # nothing partial or temporary left on the store
    listing = subprocess.run(["xrdfs", xrootd_server.url, "ls", "-R", "/store/faults"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert not [p for p in listing if ".tmp-" in p], listing
