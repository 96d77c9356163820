"""A run interrupted while it writes, by a kill of its law process in the event loop and in
the rename window, and by Ctrl-C: nothing partial or temporary is left, no process outlives
it, and the next run remakes the output identical to an uninterrupted one."""

import glob
import os
import shutil
import signal
import uuid

import awkward as ak
import numpy as np
import pytest
import uproot

from tests.conftest import outputs_in
from tests.test_trust import SKIM, env_of, run, start, wait_for


def processes_of(marker):
    """PIDs of the processes whose environment holds ``marker``."""
    pids = []
    for path in glob.glob("/proc/[0-9]*/environ"):
        try:
            if marker.encode() in open(path, "rb").read():
                pids.append(int(path.split("/")[2]))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A store with a 60000-event tt_sl sample and its STEP 1 (their skim takes seconds), and a
    clean skim of them kept aside: the tests below remake the skim alone, from the same inputs."""
    base = tmp_path_factory.mktemp("big")
    env = env_of(base, events=60000)
    code, out = run(env, "Skim", "--dataset", "tt_sl")
    assert code == 0, out
    clean = str(base / "clean_skim_0.root")
    shutil.copy(os.path.join(skim_dir(env), "skim_0.root"), clean)
    return env, clean


def skim_dir(env):
    return os.path.join(env["TMET_STORE"], *SKIM, "v1")


def without_skim(env):
    """The skim's directory, its output and record removed (its inputs stay complete)."""
    directory = skim_dir(env)
    for path in (os.path.join(directory, "skim_0.root"), os.path.join(directory, ".tmet", "skim_0.root.record.json")):
        if os.path.exists(path):
            os.remove(path)
    return directory


def same_skims(a, b):
    with uproot.open(a) as fa, uproot.open(b) as fb:
        ea, eb = fa["Events"].arrays(), fb["Events"].arrays()
        assert sorted(ea.fields) == sorted(eb.fields)
        for name in ea.fields:
            if ea[name].ndim > 1:
                assert ak.all(ak.num(ea[name]) == ak.num(eb[name])), name
            assert np.array_equal(ak.to_numpy(ak.flatten(ea[name], axis=None)),
                                  ak.to_numpy(ak.flatten(eb[name], axis=None))), name


@pytest.mark.parametrize("moment", ["event loop", "rename window"])
def test_kill_then_rerun_gives_identical_outputs(big, moment):
    env, clean = big
    env = dict(env, TMET_RUN_MARKER=f"kill-{moment.replace(' ', '-')}-{uuid.uuid4().hex}")
    directory = without_skim(env)
    proc = start(env, "Skim", "--dataset", "tt_sl", version="v1")
    if moment == "event loop":
        assert wait_for(lambda: glob.glob(os.path.join(directory, ".tmet", "skim_0.tmp-*.root")))
    else:
        assert wait_for(lambda: os.path.exists(os.path.join(directory, "skim_0.root")), timeout=120)
    os.kill(proc.pid, signal.SIGKILL)  # the law process only: what it started must die with it
    proc.wait()
    if moment == "event loop":
        assert not os.path.exists(os.path.join(directory, "skim_0.root"))
    assert wait_for(lambda: not processes_of(env["TMET_RUN_MARKER"]), timeout=15), "processes outlived the run"
    code, out = run(env, "Skim", "--dataset", "tt_sl")
    assert code == 0, out
    assert outputs_in(directory) == ["skim_0.root"]
    assert not glob.glob(os.path.join(directory, ".tmet", "*.tmp-*"))
    same_skims(os.path.join(directory, "skim_0.root"), clean)


def test_ctrl_c_ends_the_run_without_output(big):
    env, _ = big
    env = dict(env, TMET_RUN_MARKER=f"ctrl-c-{uuid.uuid4().hex}")
    directory = without_skim(env)
    proc = start(env, "Skim", "--dataset", "tt_sl", version="v1")
    assert wait_for(lambda: glob.glob(os.path.join(directory, ".tmet", "skim_0.tmp-*.root")))
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    # the interrupted Skim is not reported as done
    succeeded = out.split("ran successfully:", 1)[1].split("\n* ", 1)[0] if "ran successfully:" in out else ""
    assert "Skim" not in succeeded, out
    assert not os.path.exists(os.path.join(directory, "skim_0.root"))
    assert wait_for(lambda: not processes_of(env["TMET_RUN_MARKER"]), timeout=15)
