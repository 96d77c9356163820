"""A Dask cluster as an analysis facility gives it, on this machine: a real scheduler and
workers (with nannies) run as another unix user (``nobody``), in a directory of their own,
with a home of their own, from a Python installation of their own; they cannot read the
client's pytest directories (its store, build cache, datasets YAML, b-tag efficiencies),
so everything a graph needs must reach them through Dask (analysis.engine.worker_setup) or the
XRootD server.

Their installation is the facility's image: a virtual environment at another path than the
client's, made with ``pip install -r requirements.txt`` and nothing leading to the client's
site-packages, so that ROOT and correctionlib lie elsewhere than where the client built its
libraries. It is made once per content of requirements.txt (``worker_environment``) and
reused by later runs. With ``tmet="installed"`` a clone of this repository at its commit is
on the workers' ``PYTHONPATH``, as in an image with tmet installed; with ``tmet="shipped"``
they have no tmet at all, so the client ships its own (analysis.engine.worker_setup.ship_code).
"""

import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = "nobody"
# where the workers' environments are kept between runs, one per requirements.txt content
WORKER_ENVIRONMENTS = os.environ.get("TMET_FACILITY_ENVIRONMENTS", "/var/tmp/tmet-facility-environments")


def _environment_dir():
    with open(os.path.join(REPO, "requirements.txt"), "rb") as f:
        return os.path.join(WORKER_ENVIRONMENTS, f"venv-{hashlib.sha256(f.read()).hexdigest()[:16]}")


def worker_environment_ready():
    return os.path.exists(os.path.join(_environment_dir(), ".complete"))


def worker_environment():
    """The python of the facility image: a virtual environment of /usr/bin/python3 with the
    packages of requirements.txt installed by pip, under WORKER_ENVIRONMENTS, named by a
    digest of requirements.txt; made unless a complete one exists (a lock serialises the
    runs that want it, a stamp marks it complete)."""
    env_dir = _environment_dir()
    os.makedirs(WORKER_ENVIRONMENTS, exist_ok=True)
    os.chmod(WORKER_ENVIRONMENTS, 0o755)
    python, stamp = os.path.join(env_dir, "bin", "python"), os.path.join(env_dir, ".complete")
    with open(env_dir + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(stamp):
            shutil.rmtree(env_dir, ignore_errors=True)
            # readable by the workers' user: files 0644, directories 0755
            umask = os.umask(0o022)
            try:
                subprocess.run(["/usr/bin/python3", "-m", "venv", env_dir], check=True)
                proc = subprocess.run([python, "-m", "pip", "install", "-q", "-r",
                                       os.path.join(REPO, "requirements.txt")], capture_output=True, text=True)
            finally:
                os.umask(umask)
            if proc.returncode != 0:
                raise RuntimeError(f"pip could not install the facility's environment {env_dir}:\n{proc.stderr[-3000:]}")
            open(stamp, "w").close()
    return python


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FacilityCluster:
    def __init__(self, n_workers=2, extra_env=None, tmet="installed"):
        self.n_workers, self.extra_env = n_workers, dict(extra_env or {})
        self.directory = tempfile.mkdtemp(prefix="tmet-facility-")
        self.python = worker_environment()
        if tmet == "installed":
            clone = os.path.join(self.directory, "tmet")
            subprocess.run(["git", "clone", "-q", "--no-hardlinks", REPO, clone], check=True)
            self.extra_env["PYTHONPATH"] = clone
        elif tmet != "shipped":
            raise ValueError(f"tmet must be 'installed' or 'shipped', not {tmet!r}")
        user = pwd.getpwnam(USER)
        for root, _, files in os.walk(self.directory):
            for name in [root, *(os.path.join(root, f) for f in files)]:
                os.lchown(name, user.pw_uid, user.pw_gid)
        os.chmod(self.directory, 0o700)
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.processes = []

    def _start(self, *args):
        env = {"PATH": f"{os.path.dirname(self.python)}:/usr/bin:/bin", "HOME": self.directory,
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
