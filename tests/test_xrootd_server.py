"""Proves tests/xrootd_server.py gives a real, working, stoppable XRootD server."""

import os
import pwd
import socket
import subprocess
import time
from array import array
from pathlib import Path

import pytest
import ROOT

from tests.xrootd_server import (  # noqa: F401  (fixtures are used by name)
    FAST_FAIL_ENV,
    XRootDServer,
    apply_root_fast_fail,
    xrootd_base_dir,
    xrootd_client_env,
    xrootd_server,
)

N = 10


def _write_tree(url):
    """Write a TTree with x = 0..N-1 and y = x/2 through TFile.Open(url)."""
    f = ROOT.TFile.Open(url, "RECREATE")
    assert f and not f.IsZombie(), f"could not create {url}"
    # A plain TFile here would mean ROOT bypassed the server.
    assert f.ClassName() == "TNetXNGFile", f.ClassName()
    tree = ROOT.TTree("t", "test tree")
    x = array("i", [0])
    y = array("d", [0.0])
    tree.Branch("x", x, "x/I")
    tree.Branch("y", y, "y/D")
    for i in range(N):
        x[0] = i
        y[0] = i / 2
        tree.Fill()
    f.Write()
    f.Close()


def _open_fails(url):
    """True if TFile.Open(url) gives null/zombie or raises."""
    try:
        f = ROOT.TFile.Open(url)
    except OSError:
        return True
    return (not f) or f.IsZombie()


def test_root_write_and_rdataframe_read(xrootd_server):
    lfn = "/store/test/a.root"
    url = xrootd_server.file_url(lfn)
    assert url == f"root://127.0.0.2:{xrootd_server.port}//store/test/a.root"

    _write_tree(url)

    on_disk = xrootd_server.local_path(lfn)
    assert on_disk.is_file() and on_disk.stat().st_size > 0
    # The logical path must not exist locally: ROOT really went through xrootd.
    assert not Path(lfn).exists()
    if os.geteuid() == 0:
        assert on_disk.stat().st_uid == pwd.getpwnam("xrootd").pw_uid

    df = ROOT.RDataFrame("t", url)
    cols = df.AsNumpy(["x", "y"])
    assert list(cols["x"]) == list(range(N))
    assert list(cols["y"]) == [i / 2 for i in range(N)]


def test_xrdcp_upload_and_xrdfs_ls(xrootd_server, tmp_path):
    src = tmp_path / "hello.txt"
    src.write_text("hello xrootd\n")
    lfn = "/store/test/up/hello.txt"

    subprocess.run(
        ["xrdcp", "--force", "--silent", str(src), xrootd_server.file_url(lfn)],
        check=True, timeout=60,
    )
    ls = subprocess.run(
        ["xrdfs", xrootd_server.url, "ls", "/store/test/up"],
        check=True, capture_output=True, text=True, timeout=60,
    )
    assert lfn in ls.stdout.split()
    assert xrootd_server.local_path(lfn).read_text() == "hello xrootd\n"


def test_dead_server_fails_fast(xrootd_base_dir, xrootd_client_env):
    """A separate server: the session one must stay up."""
    apply_root_fast_fail()  # fallback in case XrdCl was initialised earlier
    with XRootDServer(xrootd_base_dir) as server:
        assert server.running
        url = server.file_url("/store/dead/b.root")
        _write_tree(url)
        assert ROOT.RDataFrame("t", url).Count().GetValue() == N
        port = server.port
    assert not server.running
    server.stop()  # idempotent

    # Nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=2).close()

    t0 = time.monotonic()
    assert _open_fails(url)
    root_seconds = time.monotonic() - t0

    t0 = time.monotonic()
    res = subprocess.run(
        ["xrdfs", server.url, "ls", "/store"],
        env={**os.environ, **FAST_FAIL_ENV}, capture_output=True, text=True,
        timeout=60,
    )
    xrdfs_seconds = time.monotonic() - t0
    assert res.returncode != 0

    print(f"\nstart {server.start_seconds:.3f}s; dead server: "
          f"ROOT open failed in {root_seconds:.3f}s, xrdfs in {xrdfs_seconds:.3f}s")
    assert root_seconds < 5, root_seconds
    assert xrdfs_seconds < 5, xrdfs_seconds


def test_start_failure_reports_log_tail(xrootd_base_dir):
    """Port taken -> the server exits; the error must say why."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as blocker:
        blocker.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        blocker.bind(("::", 0))
        blocker.listen()
        server = XRootDServer(xrootd_base_dir, port=blocker.getsockname()[1])
        with pytest.raises(RuntimeError) as err:
            server.start(timeout=10)
    msg = str(err.value)
    assert "xrootd" in msg and "-c" in msg  # the command
    assert "already in use" in msg  # from the log tail
    assert not server.running


def test_missing_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="xrootd.*not found"):
        XRootDServer(tmp_path / "nobin").start()
