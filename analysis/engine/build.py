"""Shared libraries of tmet's C++, compiled with the system compiler and cached by content.

A library is named after the digest of everything that makes it: its source, the headers
of analysis/cpp it includes, the compiler and its flags, and the ROOT and correctionlib it
is built against. So a second process (or a Dask worker) finds it built, and a changed cut,
kernel or ROOT version builds a new one. Builds are atomic (a temporary file renamed into
place) and serialised per library by a lock, so that concurrent runs build it once. The
cache is TMET_BUILD_DIR (default ``.build`` of the repository); the libraries are loaded
with ctypes, without ROOT's interpreter. The ROOT and correctionlib headers every graph
includes are precompiled once per toolchain (``precompiled_header``): parsing them is a
fifth of a graph's compile time.

A library names the ROOT and correctionlib libraries it links by their sonames only, with
no path of the machine that built it: a facility's Dask worker loads a shipped library
against its own installation, which lies elsewhere. ``load`` therefore loads the libraries
it links from this process's ROOT and correctionlib packages first, and the dynamic linker
finds them loaded.
"""

import ctypes
import fcntl
import functools
import hashlib
import os
import signal
import subprocess
import sys

from analysis.errors import TmetError

ANALYSIS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# tmet's C++: the kernels and runtime headers the graphs include, the generator, the schema reader
CPP_DIR = os.path.join(ANALYSIS_DIR, "cpp")
# the cache of compiled libraries: TMET_BUILD_DIR, else .build of the repository
BUILD_DIR = os.environ.get("TMET_BUILD_DIR", os.path.join(os.path.dirname(ANALYSIS_DIR), ".build"))

# what a graph's library links: RDataFrame and what it reads, correctionlib
ROOT_LIBRARIES = ("Core", "RIO", "Tree", "TreePlayer", "ROOTVecOps", "ROOTDataFrame", "ROOTNTuple", "Imt", "Hist")
# -ffp-contract=off: the same floating-point results as ROOT's interpreter, on any CPU
FLAGS = ("-O2", "-std=c++17", "-fPIC", "-shared", "-pthread", "-ffp-contract=off", "-fno-semantic-interposition")
# by soname only: no path of the building machine in the library (see the module)
LINK_FLAGS = tuple(f"-l{lib}" for lib in ROOT_LIBRARIES) + ("-lcorrectionlib",)
COMPILER = os.environ.get("CXX", "g++")
NAMESPACES = ("tmet", "tmet_graph")
# the heavy headers of frame.h and corrections.h, precompiled (they never name tmet's namespaces)
PRECOMPILED = ("ROOT/RDFHelpers.hxx", "ROOT/RDataFrame.hxx", "ROOT/RSnapshotOptions.hxx", "ROOT/RVec.hxx",
               "Compression.h", "TROOT.h", "correction.h")


@functools.cache
def _package_dirs():
    """(include dirs, library dirs) of the ROOT and correctionlib packages of this Python."""
    import correctionlib

    root = _root_package()
    corr = os.path.dirname(correctionlib.__file__)
    return [os.path.join(root, "include"), os.path.join(corr, "include"), CPP_DIR], \
        [os.path.join(root, "lib"), os.path.join(corr, "lib")]


def _root_package():
    """The directory of the ROOT package, found without importing it (that starts ROOT)."""
    import importlib.util

    spec = importlib.util.find_spec("ROOT")
    if spec is None or not spec.submodule_search_locations:
        raise TmetError("cannot find the ROOT Python package (pip install root, see requirements.txt)")
    return list(spec.submodule_search_locations)[0]


@functools.cache
def _toolchain():
    """Text naming the compiler, ROOT and correctionlib builds: part of every library's digest."""
    try:
        compiler = subprocess.run([COMPILER, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise TmetError(f"no C++ compiler '{COMPILER}' (setup.sh installs g++; CXX names another): {e}") from e
    include, _ = _package_dirs()
    versions = []
    for header in (os.path.join(include[0], "RVersion.h"), os.path.join(include[1], "correctionlib_version.h")):
        with open(header) as f:
            versions.append(f.read())
    return "\n".join([compiler.splitlines()[0], *FLAGS, *NAMESPACES, "TMET_COMPILED_GRAPH", *LINK_FLAGS, *versions,
                      sys.platform])


def _header_text(names):
    text = []
    for name in sorted(names):
        with open(os.path.join(CPP_DIR, name)) as f:
            text.append(f.read())
    return "\n".join(text)


def _digest(source, headers):
    return hashlib.sha256("\0".join([source, _header_text(headers), _toolchain()]).encode()).hexdigest()[:20]


def precompiled_header():
    """The path of the header of PRECOMPILED, with its ``.gch`` built next to it (once per
    toolchain: its name is their digest); given to every graph's compile with ``-include``."""
    text = "".join(f'#include "{header}"\n' for header in PRECOMPILED)
    path = os.path.join(BUILD_DIR, f"tmet_headers-{hashlib.sha256((text + _toolchain()).encode()).hexdigest()[:20]}.h")
    if os.path.exists(path + ".gch"):
        return path
    os.makedirs(BUILD_DIR, exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path + ".gch"):
            with open(path, "w") as f:
                f.write(text)
            include, _ = _package_dirs()
            tmp = f"{path}.tmp{os.getpid()}.gch"
            flags = [flag for flag in FLAGS if flag != "-shared"]
            _compile([COMPILER, *flags, *(f"-I{d}" for d in include), "-x", "c++-header", path, "-o", tmp], tmp, path)
            os.replace(tmp, path + ".gch")
    return path


def _compile(cmd, tmp, source_path):
    """Run the compiler ``cmd`` writing ``tmp``; a failure is a TmetError naming ``source_path``."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if os.path.exists(tmp):
            os.remove(tmp)
        if proc.returncode == -signal.SIGINT:  # Ctrl-C reached the compiler too: an interrupt
            raise KeyboardInterrupt
        messages = "\n".join(line for line in proc.stderr.splitlines() if "error" in line)[:4000]
        raise TmetError(f"compiling {source_path} failed:\n{messages or proc.stderr[-4000:]}")


def library_path(stem, source, headers):
    """Where the library of ``source`` (C++ text including analysis/cpp's ``headers``) is cached."""
    return os.path.join(BUILD_DIR, f"{stem}-{_digest(source, headers)}.so")


def build(stem, source, headers, precompiled=True):
    """The path of the library of ``source``, compiled unless cached. A compiler error is a
    TmetError with the compiler's first messages and the path of the source (kept next to the
    library, as is the source of every library). ``precompiled=False``: without the
    precompiled ROOT headers, for a source that includes none of them (loading them is half
    a second of a small library's compile)."""
    path = library_path(stem, source, headers)
    if os.path.exists(path):
        return path
    os.makedirs(BUILD_DIR, exist_ok=True)
    source_path = path[:-3] + ".cxx"
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(path):  # another process built it meanwhile
            return path
        with open(source_path, "w") as f:
            f.write(source)
        include, libdirs = _package_dirs()
        tmp = f"{path}.tmp{os.getpid()}"
        # tmet's namespaces renamed per library: the static registries of inline functions
        # are process-wide symbols, and two libraries (two graphs, or two versions of the
        # kernels in a long-lived Dask worker) must not share them
        digest = _digest(source, headers)
        renamed = [f"-D{name}={name}_{digest}" for name in NAMESPACES] + ["-DTMET_COMPILED_GRAPH"]
        pch = ["-include", precompiled_header()] if precompiled else []
        cmd = [COMPILER, *FLAGS, *renamed, *(f"-I{d}" for d in include), *pch,
               source_path, "-o", tmp, *(f"-L{d}" for d in libdirs), *LINK_FLAGS]
        _compile(cmd, tmp, source_path)
        os.replace(tmp, path)
    return path


@functools.cache
def linked_libraries():
    """The libraries every tmet library links, loaded from this process's ROOT and
    correctionlib packages (once per process): what lets ``load`` open a library built
    elsewhere. A package without one of them is an error naming the file."""
    _, (root_lib, correction_lib) = _package_dirs()
    paths = [os.path.join(root_lib, f"lib{name}.so") for name in ROOT_LIBRARIES]
    paths.append(os.path.join(correction_lib, "libcorrectionlib.so"))
    for path in paths:
        try:
            ctypes.CDLL(path, mode=os.RTLD_GLOBAL)
        except OSError as e:
            raise TmetError(f"cannot load {path}, which tmet's compiled libraries link: {e}") from e
    return tuple(paths)


@functools.cache
def load(path):
    """The library at ``path``, loaded once per process (its symbols kept to itself), after
    the libraries it links (``linked_libraries``)."""
    linked_libraries()
    try:
        return ctypes.CDLL(path, mode=os.RTLD_LOCAL)
    except OSError as e:
        raise TmetError(f"cannot load the compiled library {path}: {e}") from e
