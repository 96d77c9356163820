"""Start and stop a real, unauthenticated XRootD server for tests.

Why a real server: ``root://`` handling (ROOT's TNetXNGFile, xrdcp/xrdfs,
gfal) can only be trusted when it has actually talked to an xrootd daemon.

Things this helper takes care of, each learnt the hard way on Debian
bookworm with xrootd 5.5.3:

* ``xrootd`` refuses to run as root.  As root we pass ``-R xrootd`` and hand
  the data and admin directories to the ``xrootd`` user; as a normal user the
  server simply runs as that user.
* ROOT opens ``root://localhost/...`` and ``root://127.0.0.1/...`` as *local*
  files and never contacts the server.  We therefore advertise another
  loopback address (``127.0.0.2`` by default; the server listens on all
  interfaces).  Because the export is mapped under ``oss.localroot``, the
  logical path ``/store/...`` does not exist on the local filesystem, so an
  accidental local open fails loudly instead of passing silently.
* The XRootD client's defaults make a dead server hang for minutes
  (``xrdfs`` against a closed port took 8 minutes).  :data:`FAST_FAIL_ENV`
  holds the client settings that make it fail at once; it is used for the
  readiness probe and set for the session by the ``xrootd_client_env``
  fixture (which ``xrootd_server`` depends on).
* The server runs in the foreground as our child (no ``-b``), in its own
  session, so :meth:`XRootDServer.stop` can signal and ``wait()`` for exactly
  that process; no pid-file parsing, no zombies, no strays.
"""

from __future__ import annotations

import atexit
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

#: XRootD client settings (environment variables, honoured by every XrdCl
#: user: xrdcp, xrdfs, ROOT, gfal) that turn "server is gone" into a prompt
#: error.  Measured on this machine (xrootd/XrdCl 5.5.3, ROOT 6.40):
#:
#: * server stopped (connection refused): with the defaults xrdfs retried
#:   for 8 minutes and ROOT's TFile.Open did not return within 200 s.
#:   XRD_CONNECTIONRETRY=1 alone -> xrdfs fails in ~0.03 s, ROOT in a few
#:   ms.  Shortening only the window (XRD_CONNECTIONWINDOW=1: 4 s) or only
#:   the request timeout (3 s) still costs seconds.
#: * server hung (SIGSTOP: TCP accepted, no answer): the defaults wait well
#:   over a minute.  With these settings xrdfs fails after ~6 s (connection
#:   window 5 s) and ROOT, on an already open connection, after ~10 s
#:   (request/stream timeout).  XRD_TIMEOUTRESOLUTION (default 15 s) is how
#:   often XrdCl checks its timeouts; without =1 each is rounded up to 15 s.
#:
#: NB: XrdCl reads these ONCE per process, when it is first used; set them
#: before the first root:// access (the fixtures below do).
FAST_FAIL_ENV = {
    "XRD_CONNECTIONRETRY": "1",
    "XRD_CONNECTIONWINDOW": "5",
    "XRD_REQUESTTIMEOUT": "10",
    "XRD_STREAMTIMEOUT": "10",
    "XRD_TIMEOUTRESOLUTION": "1",
}

#: ROOT's gEnv counterparts (``NetXNG.*``, applied by TNetXNGFile on every
#: open).  Weaker fallback for a process whose XrdCl is already initialised:
#: then ConnectionRetry/TimeoutResolution no longer take effect and a dead
#: server fails only after RequestTimeout rounded up to the resolution in
#: use (measured 10-15 s).  A set XRD_* variable wins over these.
ROOT_FAST_FAIL_SETTINGS = {
    "NetXNG.ConnectionRetry": "1",
    "NetXNG.ConnectionWindow": "5",
    "NetXNG.RequestTimeout": "10",
    "NetXNG.TimeoutResolution": "1",
}

SERVER_USER = "xrootd"  # the account the Debian package creates
EXPORT = "/store"
_LOG_TAIL_LINES = 40
_live_servers: "set[XRootDServer]" = set()


def apply_root_fast_fail():
    """Set ROOT_FAST_FAIL_SETTINGS in ROOT's gEnv.

    Before XrdCl's first use this makes a dead-server open fail in ~1 s;
    afterwards only the request timeout still applies (~10-15 s).  The
    XRD_* environment variables (FAST_FAIL_ENV) are the better tool; this
    is the fallback.  ROOT is imported lazily so that importing this module
    stays cheap for tests that only need xrdcp/xrdfs.
    """
    import ROOT

    for key, value in ROOT_FAST_FAIL_SETTINGS.items():
        ROOT.gEnv.SetValue(key, value)


def _free_port():
    """Ask the kernel for an unused TCP port (xrootd binds on all interfaces).

    There is an unavoidable race between closing this socket and xrootd
    binding the port; :meth:`XRootDServer.start` retries with a new port if
    the server reports "address already in use".
    """
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        addr = ("::", 0)
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = ("0.0.0.0", 0)
    with sock:
        sock.bind(addr)
        return sock.getsockname()[1]


class XRootDServer:
    """One xrootd daemon serving ``/store`` read/write, without authentication.

    Layout under ``base_dir``::

        xrootd.cfg      generated config
        xrootd.log      server log (its stdout/stderr, written by us)
        data/           oss.localroot; /store/x lives at data/store/x
        admin/          adminpath and pidpath

    As root, the ``xrootd`` user must be able to traverse every parent of
    base_dir for the server's whole life: use :func:`make_base_dir`, not
    pytest's tmp_path (see there).

    Usable as a context manager; ``start()``/``stop()`` may also be called
    directly.  ``stop()`` is idempotent and also runs at interpreter exit, so
    a crashed test session does not leave daemons behind.
    """

    def __init__(self, base_dir, host="127.0.0.2", port=None):
        self.base_dir = Path(base_dir).resolve()
        self.host = host
        self._fixed_port = port is not None
        self.port = int(port) if port is not None else _free_port()
        self.http_port = _free_port()
        self.data_dir = self.base_dir / "data"
        self.admin_dir = self.base_dir / "admin"
        self.config_path = self.base_dir / "xrootd.cfg"
        self.log_path = self.base_dir / "xrootd.log"
        self.name = "tmet"
        self._proc: "subprocess.Popen | None" = None
        self.start_seconds = None  # how long the last start() took

    # ------------------------------------------------------------------ info
    @property
    def url(self):
        """``root://HOST:PORT`` -- append ``//store/...`` for a file URL."""
        return f"root://{self.host}:{self.port}"

    @property
    def dav_url(self):
        """``dav://HOST:HTTP_PORT`` (WebDAV of the same files) -- append ``/store/...``."""
        return f"dav://{self.host}:{self.http_port}"

    def file_url(self, lfn):
        """Full URL of a logical file name such as ``/store/test/a.root``."""
        return f"{self.url}/{self._check_lfn(lfn)}"

    def local_path(self, lfn):
        """Where the logical file ``/store/...`` is stored on this disk."""
        return self.data_dir / self._check_lfn(lfn).lstrip("/")

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self):
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, lines=_LOG_TAIL_LINES):
        """Last lines of the server log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<no server log at {self.log_path}: {exc}>"
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout=20.0):
        """Write the config, start the daemon, wait until ``xrdfs ls /store``
        succeeds.  Raises RuntimeError (with command and log tail) otherwise."""
        if self.running:
            return self
        self._require_binaries()
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            self._prepare_dirs()
            self._write_config()
            t0 = time.monotonic()
            try:
                self._launch_and_wait(timeout)
            except _PortInUse:
                if attempt + 1 == attempts:
                    raise RuntimeError(
                        f"xrootd could not bind port {self.port}: address "
                        f"already in use.\ncommand: {self._cmd_str()}\n"
                        f"--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                    ) from None
                self.port = _free_port()  # lost the race for the port; retry
                continue
            self.start_seconds = time.monotonic() - t0
            _live_servers.add(self)
            return self
        raise AssertionError("unreachable")

    def stop(self, timeout=10.0):
        """Terminate the daemon and wait for it; safe to call repeatedly.

        SIGTERM to the server's process group first, SIGKILL if it has not
        exited within ``timeout`` seconds.  Always reaps the child, and only
        ever signals the process this object started.
        """
        _live_servers.discard(self)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<XRootDServer {self.url} {state} base_dir={self.base_dir}>"

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _check_lfn(lfn):
        lfn = "/" + str(lfn).lstrip("/")
        if not (lfn == EXPORT or lfn.startswith(EXPORT + "/")):
            raise ValueError(f"{lfn!r} is not under the exported {EXPORT}")
        return lfn

    def _as_root(self):
        return os.geteuid() == 0

    def _cmd(self):
        cmd = ["xrootd"]
        if self._as_root():
            # xrootd refuses to run as root; -R drops to the given user.
            cmd += ["-R", SERVER_USER]
        # No -l: the log goes to stderr, which we redirect to a file we own
        # (no log directory ownership issues, no midnight log rotation).
        # No -b: stay in the foreground as our child so stop() can wait().
        cmd += ["-c", str(self.config_path), "-n", self.name]
        return cmd

    def _cmd_str(self):
        return " ".join(self._cmd())

    def _require_binaries(self):
        missing = [b for b in ("xrootd", "xrdfs") if shutil.which(b) is None]
        if missing:
            raise RuntimeError(
                f"cannot start an XRootD server: {', '.join(missing)} not found "
                f"on PATH (Debian: apt-get install xrootd-server xrootd-client)"
            )

    def _prepare_dirs(self):
        """Create base_dir, data/store and admin, owned by the server user."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / EXPORT.lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.admin_dir.mkdir(parents=True, exist_ok=True)
        if not self._as_root():
            return
        try:
            pw = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise RuntimeError(
                f"running as root but there is no {SERVER_USER!r} user for "
                f"xrootd -R (it refuses to run as root)"
            ) from None
        for top in (self.data_dir, self.admin_dir):
            for dirpath, dirnames, filenames in os.walk(top):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for name in filenames:
                    os.chown(os.path.join(dirpath, name), pw.pw_uid, pw.pw_gid)
        self._make_traversable(self.base_dir, pw)

    @staticmethod
    def _make_traversable(path, pw):
        """The server user must be able to reach base_dir.

        pytest's tmp dirs are mode 0700 and owned by root, so after the
        privilege drop xrootd could not see its own data.  We add only the
        search bit (o+x: traverse, not list) to ancestors that we own, and
        refuse loudly if someone else's directory is in the way.
        """
        gids = {pw.pw_gid} | {
            g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem
        }
        for d in [path, *path.parents]:
            st = d.stat()
            if st.st_uid == pw.pw_uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid in gids:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if ok:
                continue
            if st.st_uid != os.geteuid():
                raise RuntimeError(
                    f"user {pw.pw_name!r} cannot traverse {d} (not ours to "
                    f"chmod); choose a base_dir the xrootd server can reach"
                )
            os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    def _write_config(self):
        self.config_path.write_text(
            "# generated by tests/xrootd_server.py -- unauthenticated, test only\n"
            f"xrd.port {self.port}\n"
            "all.role server\n"
            f"oss.localroot {self.data_dir}\n"
            f"all.export {EXPORT} r/w\n"
            f"all.adminpath {self.admin_dir}\n"
            f"all.pidpath {self.admin_dir}\n"
            # WebDAV over plain HTTP on a second port (XrdHttp), for dav:// stores
            f"xrd.protocol XrdHttp:{self.http_port} libXrdHttp.so\n"
        )

    def _kill_stale(self):
        """A daemon left over from an earlier run on this base_dir (e.g. the
        test process was SIGKILLed) would hold the port and the admin dir."""
        pidfile = self.admin_dir / self.name / "xrootd.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return
        if b"xrootd" in cmdline and str(self.config_path).encode() in cmdline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(50):  # not our child: poll until it is gone
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def _launch_and_wait(self, timeout):
        self._kill_stale()
        cmd = self._cmd()
        with open(self.log_path, "ab") as log:
            log.write(f"### {time.ctime()} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                start_new_session=True,  # own process group; no terminal signals
            )
        _live_servers.add(self)  # from here on, atexit will clean up
        probe = ["xrdfs", self.url, "ls", EXPORT]
        env = {**os.environ, **FAST_FAIL_ENV}
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            rc = self._proc.poll()
            if rc is not None:
                self.stop()  # reap, forget
                tail = self.log_tail()
                if "address already in use" in tail.lower() and not self._fixed_port:
                    raise _PortInUse()
                raise RuntimeError(
                    f"xrootd exited with status {rc} during start-up.\n"
                    f"command: {' '.join(cmd)}\nconfig: {self.config_path}\n"
                    f"--- log tail ({self.log_path}) ---\n{tail}"
                )
            ok, last = self._probe(probe, env, deadline)
            if ok:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"xrootd did not answer `{' '.join(probe)}` within "
                    f"{timeout:.0f} s (last probe: {last!r}).\n"
                    f"command: {' '.join(cmd)}\nconfig: {self.config_path}\n"
                    f"--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _probe(self, cmd, env, deadline):
        """Run one readiness probe, but give up on it as soon as the server
        dies (e.g. cannot bind its port) or the deadline passes; a probe
        against a half-alive port can otherwise block for the whole
        connection window."""
        p = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        while True:
            try:
                out, _ = p.communicate(timeout=0.05)
                return p.returncode == 0, out.strip()
            except subprocess.TimeoutExpired:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    p.kill()
                    p.communicate()
                    return False, "probe abandoned (server exited or deadline)"

    @staticmethod
    def _signal(proc, sig):
        try:
            os.killpg(proc.pid, sig)  # start_new_session: pgid == pid
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.send_signal(sig)


class _PortInUse(Exception):
    pass


@atexit.register
def _stop_all():
    """Last line of defence against stray daemons after an aborted run."""
    for server in list(_live_servers):
        server.stop()


@pytest.fixture(scope="session")
def xrootd_client_env():
    """Session-wide fast-failing XRootD client settings (see FAST_FAIL_ENV).

    Values already in the environment are respected, and everything is
    restored at the end of the session.  If ROOT is already imported, its
    gEnv fallback is set as well, in case XrdCl was initialised before us.
    """
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_FAIL_ENV.items():
            if key not in os.environ:
                mp.setenv(key, value)
        if "ROOT" in sys.modules:
            apply_root_fast_fail()
        yield dict(FAST_FAIL_ENV)


def make_base_dir(prefix="tmet-xrootd-"):
    """A fresh base_dir for XRootDServer in the system temp dir.

    Why not pytest's tmp_path: as root the server runs as user ``xrootd``
    and must traverse every parent of its data directory.  pytest's
    ``/tmp/pytest-of-root`` is mode 0700, and every pytest session that
    starts (e.g. a colleague's run in parallel) chmods it back to 0700,
    cutting a running server off its data mid-session ("permission denied"
    on open).  ``/tmp`` itself is world-traversable, so this is stable.
    """
    return Path(tempfile.mkdtemp(prefix=prefix))


def _dispose_base_dir(base_dir, keep_log_in):
    """Keep the server log next to the test's tmp files, drop the rest."""
    log = Path(base_dir) / "xrootd.log"
    if log.exists():
        shutil.copy(log, Path(keep_log_in) / "xrootd.log")
    shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
def xrootd_base_dir(tmp_path):
    """Per-test base_dir for an extra XRootDServer (see make_base_dir);
    removed afterwards, its server log copied into tmp_path."""
    base = make_base_dir()
    try:
        yield base
    finally:
        _dispose_base_dir(base, tmp_path)


@pytest.fixture(scope="session")
def xrootd_server(tmp_path_factory, xrootd_client_env):
    """A running XRootDServer for the whole session, stopped at the end.

    Its files live in a make_base_dir() directory that is removed at the
    end; the server log is kept in pytest's tmp dir (``xrootd0/``).
    """
    base = make_base_dir()
    server = XRootDServer(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        _dispose_base_dir(base, tmp_path_factory.mktemp("xrootd"))
