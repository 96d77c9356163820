"""Histograms on a facility's Dask workers (tests/facility_cluster.py: another unix user,
no access to the client's files), the store on a real XRootD server: the graph's library,
its b-tag efficiencies and the client's proxy reach the workers through Dask, and the
histograms equal those of a local run bin by bin (to rounding: two entry ranges summed)."""

import os
import stat
import subprocess

import numpy as np
import pytest
import uproot

from analysis.dask_workers import WorkerSetup, versions
from analysis.errors import TmetError
from tests.conftest import law_run, tiny_law_env
from tests.facility_cluster import FacilityCluster
from tests.xrootd_server import FAST_FAIL_ENV

PROXY_TEXT = "-----BEGIN CERTIFICATE----- tmet test proxy, not a real one -----END CERTIFICATE-----"


@pytest.fixture(scope="module")
def facility():
    if os.geteuid() != 0:
        pytest.skip("the facility's workers run as another unix user: needs root (runuser), as in CI")
    cluster = FacilityCluster(2, extra_env=FAST_FAIL_ENV).start()
    yield cluster
    cluster.stop()


def fetched_histograms(server, lfn_dir, shift, directory):
    """{(category, variable): (contents, variances, entries)} of a Histograms output on the server."""
    local = os.path.join(directory, f"{shift}.root")
    subprocess.run(["xrdcp", "-f", "-s", server.file_url(f"{lfn_dir}/hists__{shift}.root"), local], check=True)
    with uproot.open(local) as f:
        return {key.split(";")[0]: (h.values(flow=True), h.variances(flow=True), h.member("fEntries"))
                for key, h in ((k, f[k]) for k, c in f.classnames().items() if c.startswith("TH1"))}


def worker_credentials():
    """What a worker sees of its proxy: the variable, the file's mode and content."""
    path = os.environ.get("X509_USER_PROXY")
    return path, stat.S_IMODE(os.stat(path).st_mode), open(path).read()


def test_histograms_on_workers_that_cannot_read_the_client(facility, xrootd_server, tmp_path):
    from dask.distributed import Client

    proxy = tmp_path / "x509up"
    proxy.write_text(PROXY_TEXT)
    proxy.chmod(0o600)
    env = tiny_law_env(tmp_path, ["tt_sl", "data_met"], events_per_file=1500,
                       store=xrootd_server.url + "//store/facility", TMET_BUILD_DIR=str(tmp_path / "build"),
                       X509_USER_PROXY=str(proxy))
    task = ["Histograms", "--dataset", "tt_sl", "--shift", "all"]
    code, out = law_run(env, *task, "--dask-scheduler", facility.address, version="facility")
    assert code == 0, out + facility.logs()
    assert PROXY_TEXT not in out
    code, out = law_run(env, *task, "--executor", "local", version="local")
    assert code == 0, out
    prefix = "/store/facility/Histograms/run2_2018_synth/tt_sl"
    for shift in ("nominal", "jes_up", "pu_down"):
        remote = fetched_histograms(xrootd_server, f"{prefix}/facility", shift, tmp_path)
        local = fetched_histograms(xrootd_server, f"{prefix}/local", shift, tmp_path)
        assert sorted(remote) == sorted(local) and remote
        for key, (contents, variances, entries) in local.items():
            # the same events and weights; sums of two entry ranges against one: rounding only
            np.testing.assert_allclose(remote[key][0], contents, rtol=1e-12, atol=0, err_msg=f"{shift} {key}")
            np.testing.assert_allclose(remote[key][1], variances, rtol=1e-12, atol=0, err_msg=f"{shift} {key}")
            assert remote[key][2] == entries
    # the proxy reached every worker as a file of its own, readable by the worker only
    with Client(facility.address) as client:
        for path, mode, text in client.run(worker_credentials).values():
            assert path.startswith(facility.directory) and mode == 0o400 and text == PROXY_TEXT
    # and is in no provenance record
    record = subprocess.run(["python", "-m", "tasks.provenance",
                             xrootd_server.file_url(f"{prefix}/facility/hists__nominal.root")],
                            env=env, capture_output=True, text=True, check=True).stdout
    assert "tmet" in record and PROXY_TEXT not in record and str(proxy) not in record


def test_a_worker_of_another_tmet_is_refused(facility):
    from dask.distributed import Client

    expected = {**versions(), "tmet commit": "0000000"}
    setup = WorkerSetup([], {}, expected)
    with Client(facility.address) as client:
        try:
            with pytest.raises(TmetError, match=r"runs another tmet or ROOT than the client: tmet commit "
                                                rf"{versions()['tmet commit']} on the worker, 0000000 on the client"):
                client.register_plugin(setup, name=setup.name)
        finally:
            client.unregister_worker_plugin(setup.name)
