"""A Dask cluster as an analysis facility gives it, on this machine: a real scheduler and
workers (with nannies) run as another unix user (``nobody``), in a directory of their own,
with a home of their own, from a virtual environment of their own; they cannot read the
client's pytest directories (its store, build cache, datasets YAML, b-tag efficiencies),
so everything a graph needs must reach them through Dask (analysis.dask_workers) or the
XRootD server.

Their environment holds the pinned packages (a ``.pth`` to the client's site-packages, to
spare a 1 GB install per test run) and, with ``tmet="installed"``, a clone of this
repository at its commit on their ``PYTHONPATH``, as an image with tmet installed; with
``tmet="shipped"`` no tmet at all, so the client ships its own (analysis.dask_workers.ship_code).
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = "nobody"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FacilityCluster:
    def __init__(self, n_workers=2, extra_env=None, tmet="installed"):
        self.n_workers, self.extra_env = n_workers, dict(extra_env or {})
        self.directory = tempfile.mkdtemp(prefix="tmet-facility-")
        self.python = self._environment(tmet)
        user = pwd.getpwnam(USER)
        for root, _, files in os.walk(self.directory):
            for name in [root, *(os.path.join(root, f) for f in files)]:
                os.lchown(name, user.pw_uid, user.pw_gid)
        os.chmod(self.directory, 0o700)
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.processes = []

    def _environment(self, tmet):
        """The workers' python: a venv of the pinned packages; tmet per ``tmet``."""
        env_dir = os.path.join(self.directory, "venv")
        venv.create(env_dir, with_pip=False, symlinks=True)
        site = subprocess.run([os.path.join(env_dir, "bin", "python"), "-c",
                               "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        paths = [sysconfig.get_paths()["purelib"]]
        if tmet == "installed":
            clone = os.path.join(self.directory, "tmet")
            subprocess.run(["git", "clone", "-q", "--no-hardlinks", REPO, clone], check=True)
            paths.append(clone)
        elif tmet != "shipped":
            raise ValueError(f"tmet must be 'installed' or 'shipped', not {tmet!r}")
        with open(os.path.join(site, "pinned.pth"), "w") as f:
            f.write("\n".join(paths) + "\n")
        return os.path.join(env_dir, "bin", "python")

    def _start(self, *args):
        env = {"PATH": os.environ["PATH"], "HOME": self.directory,
               "PYTHONWARNINGS": "ignore::UserWarning:ROOT", **self.extra_env}
        log = open(os.path.join(self.directory, f"process{len(self.processes)}.log"), "w")
        proc = subprocess.Popen(["runuser", "-u", USER, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                                 self.python, *args], cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.processes.append(proc)
        return proc

    def start(self, timeout=90):
        from dask.distributed import Client

        self._start("-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                    "--no-dashboard")
        for i in range(self.n_workers):
            self._start("-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1", "--nworkers", "1",
                        "--no-dashboard", "--local-directory", os.path.join(self.directory, f"worker{i}"))
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the facility scheduler did not start:\n{self.logs()}") from None
                time.sleep(0.2)
        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(self.n_workers, timeout=max(deadline - time.monotonic(), 1))
        return self

    def logs(self):
        out = []
        for name in sorted(os.listdir(self.directory)):
            if name.endswith(".log"):
                with open(os.path.join(self.directory, name)) as f:
                    out.append(f"--- {name}\n{f.read()[-3000:]}")
        return "\n".join(out)

    def stop(self):
        for proc in self.processes:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
