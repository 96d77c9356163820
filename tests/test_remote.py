"""A real XRootD server on a loopback address: skims over root://, redirector fallback, and the
whole chain with its outputs on the server."""

import os
import re
import subprocess

import pytest
import uproot

from analysis.errors import TmetError
from analysis.engine.inputs import candidate_urls, open_file
from analysis.physics.skim import skim_files
from tests.conftest import law_run, tiny_law_env
from tests.xrootd_server import XRootDServer

DATASETS = ["tt_sl", "tdm_ps_m500", "data_met"]


def put(server, local, lfn):
    """Copy a local file onto the server under ``lfn`` with xrdcp (as a grid site would serve it)."""
    subprocess.run(["xrdcp", "-f", "-s", local, server.file_url(lfn)], check=True)
    return server.file_url(lfn)


def entries(server, lfn, local):
    """Events in the Events tree of ``lfn`` on the server (fetched with xrdcp to ``local``)."""
    subprocess.run(["xrdcp", "-f", "-s", server.file_url(lfn), str(local)], check=True)
    return uproot.open(local)["Events"].num_entries


def test_skim_reads_root_url(xrootd_server, nanoaod, config, tmp_path):
    local = nanoaod("tt_sl")
    url = put(xrootd_server, local, "/store/mc/tt_sl/file0.root")
    assert url.startswith("root://127.0.0.2:")
    remote = skim_files([url], str(tmp_path / "remote.root"), config, False)
    local = skim_files([local], str(tmp_path / "local.root"), config, False)
    n_remote, n_local = (remote.events_in, remote.events_out), (local.events_in, local.events_out)
    assert n_remote == n_local and n_remote[1] > 0


def test_lfn_through_redirectors_with_fallback(xrootd_server, generate, xrootd_base_dir):
    put(xrootd_server, generate("data_met"), "/store/data/met/file0.root")
    dead = XRootDServer(xrootd_base_dir)
    dead.start()
    dead.stop()
    redirectors = [dead.url + "/", xrootd_server.url + "/"]
    assert candidate_urls("/store/data/met/file0.root", redirectors)[1] == xrootd_server.url + "//store/data/met/file0.root"
    url, tfile = open_file("/store/data/met/file0.root", redirectors, retries=2, delay=0.1)
    assert url.startswith(xrootd_server.url) and tfile.Get("Events").GetEntries() > 0
    tfile.Close()
    with pytest.raises(TmetError, match=r"cannot open /store/data/met/missing.root: tried root://.*"
                                        r"redirectors tried in order: " + dead.url):
        open_file("/store/data/met/missing.root", redirectors, retries=2, delay=0.1)


@pytest.fixture(scope="module")
def remote_env(tmp_path_factory, xrootd_server):
    base = tmp_path_factory.mktemp("remote")
    env = tiny_law_env(base, DATASETS, events_per_file=1500, store=xrootd_server.url + "//store/tmet",
                       TMET_EXECUTOR="local")
    return env, base


def test_chain_on_remote_store(remote_env, xrootd_server):
    env, base = remote_env
    code, out = law_run(env, "Datacard")
    assert code == 0, out
    # the progress line: tasks done of those to run, every tenth of them, not per task
    progress = re.findall(r"tmet: progress: (\d+) of (\d+) tasks done, ([\d,]+) events processed", out)
    assert progress and progress[-1][0] == progress[-1][1] and len(progress) <= 11, progress
    # and the events each loop read, counted in the store: the generated ones (by GenerateSample
    # and by TopCandidates), STEP 1's (by Skim), the skimmed ones (by Histograms, and
    # BTagEfficiency for MC)
    events = 0
    for dataset in DATASETS:
        generated, step1, skimmed = (
            entries(xrootd_server, f"/store/tmet/{family}/run2_2018_synth/{dataset}/v1/{name}", base / f"{dataset}_{name}")
            for family, name in (("GenerateSample", "sample_0.root"), ("TopCandidates", "candidates_0.root"),
                                 ("Skim", "skim_0.root")))
        events += 2 * generated + step1 + skimmed * (1 if dataset == "data_met" else 2)
    assert progress[-1][2] == f"{events:,}"
    listing = subprocess.run(["xrdfs", xrootd_server.url, "ls", "-R", "/store/tmet"], capture_output=True,
                             text=True, check=True).stdout.split()
    for path in ("/store/tmet/GenerateSample/run2_2018_synth/tt_sl/v1/sample_0.root",
                 "/store/tmet/Skim/run2_2018_synth/data_met/v1/skim_0.root",
                 "/store/tmet/Histograms/run2_2018_synth/tt_sl/v1/hists__jes_up.root",
                 "/store/tmet/Datacard/run2_2018_synth/v1/tdm_ps_m500/datacard_combined.txt",
                 "/store/tmet/Datacard/run2_2018_synth/v1/tdm_ps_m500/shapes_combined.root"):
        assert path in listing, path
    # nothing to do the second time
    code, out = law_run(env, "Datacard")
    assert code == 0 and "ran successfully" not in out and "complete ones were encountered" in out
    # outputs are shown as root:// URLs and can be fetched back
    code, out = law_run(env, "Datacard", "--print-output", "0")
    assert xrootd_server.url + "//store/tmet/Datacard/run2_2018_synth/v1/tdm_ps_m500/datacard_sr_0l.txt" in out
    fetched = base / "fetched"
    code, out = law_run(env, "Histograms", "--dataset", "tt_sl", "--shift", "nominal",
                        "--fetch-output", f"0,a,{fetched}")
    assert code == 0, out
    (name,) = os.listdir(fetched)
    with uproot.open(fetched / name) as f:
        assert f["sr_1l/met"].values().sum() > 0


def test_stopped_server_fails_fast_without_output(remote_env, xrootd_base_dir):
    env, _ = remote_env
    server = XRootDServer(xrootd_base_dir)
    server.start()
    env = dict(env, TMET_STORE=server.url + "//store/tmet")
    server.stop()
    code, out = law_run(env, "Skim", "--dataset", "tt_sl", version="v2")
    assert code != 0
    assert f"the XRootD store {server.url}//store/tmet is unreachable" in out
    assert "ran successfully" not in out
    data = server.local_path("/store/tmet")
    assert not os.path.exists(data) or not any(files for _, _, files in os.walk(data))


def test_chain_on_webdav_store(remote_env, xrootd_server, tmp_path):
    """The same server's files over WebDAV (XrdHttp; gfal2's HTTP plugin): the chain's cards
    and shapes equal those of the XRootD store."""
    env, _ = remote_env
    code, out = law_run(env, "Datacard")  # the XRootD chain (made by test_chain_on_remote_store)
    assert code == 0, out
    dav = dict(env, TMET_STORE=xrootd_server.dav_url + "/store/dav")
    code, out = law_run(dav, "Datacard")
    assert code == 0, out
    code, out = law_run(dav, "Datacard")
    assert code == 0 and "ran successfully" not in out
    code, out = law_run(dav, "Datacard", "--print-output", "0")
    assert xrootd_server.dav_url + "/store/dav/Datacard/run2_2018_synth/v1/tdm_ps_m500/datacard_sr_0l.txt" in out
    for name in ("datacard_combined.txt", "shapes_combined.root"):
        lfn = f"Datacard/run2_2018_synth/v1/tdm_ps_m500/{name}"
        over_dav, over_root = tmp_path / f"dav_{name}", tmp_path / f"root_{name}"
        subprocess.run(["xrdcp", "-f", "-s", xrootd_server.file_url(f"/store/dav/{lfn}"), over_dav], check=True)
        subprocess.run(["xrdcp", "-f", "-s", xrootd_server.file_url(f"/store/tmet/{lfn}"), over_root], check=True)
        if name.endswith(".txt"):
            assert over_dav.read_text() == over_root.read_text()
            continue
        with uproot.open(over_dav) as a, uproot.open(over_root) as b:
            assert sorted(a.keys()) == sorted(b.keys())
            for key, cls in b.classnames().items():
                if cls.startswith("TH1"):
                    assert (a[key].values(flow=True) == b[key].values(flow=True)).all(), key


def test_an_input_and_its_friend_over_xrootd(xrootd_server, friends, config, tmp_path):
    """STEP 1's friend read beside its input, both from the server, as on the grid."""
    (local, friend), _ = friends
    url = put(xrootd_server, local, "/store/mc/tt_sl/friend_input.root")
    friend_url = put(xrootd_server, friend, "/store/tmet/TopCandidates/tt_sl/friends_0_0.root")
    remote = skim_files([url], str(tmp_path / "remote.root"), config, False, friends=[friend_url])
    here = skim_files([local], str(tmp_path / "local.root"), config, False, friends=[friend])
    assert (remote.events_in, remote.events_out) == (here.events_in, here.events_out) and here.events_out > 0
    with uproot.open(tmp_path / "remote.root") as f, uproot.open(tmp_path / "local.root") as g:
        assert f["Events"].arrays(["TopCand_score"]).tolist() == g["Events"].arrays(["TopCand_score"]).tolist()
