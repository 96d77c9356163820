"""Helpers shared by the benchmarks in bench/: realistic synthetic samples, skims, fresh
pinned processes and rootreadspeed.

Outputs go to bench/out/ (git-ignored). Samples are reused across runs when a file with
the requested number of events is already there. Every sample is written as CMS writes
NanoAOD (``REALISTIC``), so that reading costs what it costs on real files.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

from analysis.engine import root_setup
from analysis.errors import TmetError
from analysis.physics.generator import generate_file
from analysis.engine.inputs import check_inputs
from analysis.engine.schema import input_schema

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CMS's NanoAOD output: LZMA level 9 (PhysicsTools/NanoAOD/python/NanoAODEDMEventContent_cff.py,
# NANOAODSIMEventContent) and floats rounded to their stored mantissa bits
REALISTIC = {"compression": 209, "nano_precision": True}
# STEP 1's output as CMS writes NanoAOD (the synthetic campaign's own default is LZ4)
REALISTIC_STEP1 = {"algorithm": "LZMA", "level": 9}


def realistic_config():
    """The synthetic config, STEP 1 compressed as CMS writes NanoAOD (``REALISTIC_STEP1``)."""
    from config.analysis import get_config

    config = get_config("run2_2018_synth")
    config.set_aux("top_candidates_compression", REALISTIC_STEP1)
    return config


def sample(config, dataset_name, n_events, file_index=0):
    """Path of a synthetic ``dataset_name`` file with ``n_events`` events written as CMS's
    NanoAOD (generated if needed) and the generation time in seconds (0 when reused)."""
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, f"{dataset_name}_{file_index}_n{n_events}_nano.root")
    if os.path.exists(path) and _entries(path) == n_events and "nTopCand" not in input_schema(path):
        return path, 0.0  # (a sample with candidates is from before STEP 1 was tmet's: made again)
    tmp = f"{path}.tmp.root"  # renamed into place, so an interrupted run leaves nothing reusable
    start = time.perf_counter()
    generate_file(tmp, config, config.get_dataset(dataset_name), file_index, n_events=n_events, overrides=REALISTIC)
    os.replace(tmp, path)
    return path, time.perf_counter() - start


def step1_sample(config, dataset_name, n_events, file_index=0):
    """Path of STEP 1's output (TopCandidates, what a skim reads) of ``sample``, next to it,
    made once (``config``: ``realistic_config``'s, LZMA 9)."""
    from analysis.physics.top_candidates import write_top_candidates

    path, _ = sample(config, dataset_name, n_events, file_index)
    output = path.replace(".root", "_step1.root")
    if not os.path.exists(output) or os.path.getmtime(output) < os.path.getmtime(path):
        write_top_candidates([path], output + ".tmp.root", config, config.get_dataset(dataset_name))
        os.replace(output + ".tmp.root", output)
    return output


def skim(config, path, is_data=False, output_format=None):
    """tmet's skim of ``path`` next to it (made once; written to a temporary file, renamed),
    in the config's skim format or ``output_format`` ("TTree": what the columnar peer reads)."""
    from analysis.physics.skim import skim_files

    output_format = output_format or config.x.skim_format
    output = path.replace(".root", f"_skim_{output_format.lower()}.root")
    if not os.path.exists(output) or os.path.getmtime(output) < os.path.getmtime(path):
        skim_files([path], output + ".tmp.root", config, is_data=is_data, threads=1, output_format=output_format)
        os.replace(output + ".tmp.root", output)
    return output


def bench_arguments(doc, measure, repeats, *arguments):
    """The command line of a bench (``doc``: its docstring): ``arguments`` ((flag, options)
    pairs), ``--repeats`` (runs of each measurement, fastest kept; default ``repeats``) and the
    hidden ``--measure SPEC`` of the child processes ``run_pinned`` starts, which print
    ``measure(spec)`` as JSON and end here."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for flag, options in arguments:
        parser.add_argument(flag, **options)
    parser.add_argument("--repeats", type=int, default=repeats,
                        help=f"runs of each measurement, fastest kept (default {repeats})")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        sys.exit(0)
    return args


def run_pinned(args, cores):
    """The JSON a fresh ``python <args>`` prints on its last line, run with the repository on
    its path and pinned to ``cores`` (its children, e.g. Dask workers, inherit the pinning)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          preexec_fn=lambda: os.sched_setaffinity(0, set(cores)))
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise TmetError(f"benchmark process {' '.join(args)} failed (exit code {proc.returncode}):\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def bench_core():
    """The core the single-core measurements run on: the last one (the first takes more of
    the machine's interrupts and background work)."""
    return max(os.sched_getaffinity(0))


def _entries(path):
    """Events in ``path``, or None for a truncated or foreign file (which is then made again)."""
    try:
        return check_inputs([path], "Events", [])[1][0]
    except TmetError:
        return None


def rootreadspeed_binary():
    """The rootreadspeed of the ROOT that Python imports (the pip wheel ships it in ROOT/bin)."""
    ROOT = root_setup.import_root()
    candidates = [os.path.join(os.path.dirname(ROOT.__file__), "bin", "rootreadspeed")]
    rootsys = ROOT.gSystem.Getenv("ROOTSYS")
    if rootsys:
        candidates.append(os.path.join(rootsys, "bin", "rootreadspeed"))
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise TmetError(f"rootreadspeed not found (tried {', '.join(candidates)})")


def rootreadspeed(path, tree, branches):
    """Run rootreadspeed single-threaded (no ``--threads``: no thread pool, one sequential
    TBranch::GetEntry loop over entries and branches) on ``branches`` of ``tree``.

    Returns a dict: real_time and cpu_time (s), uncompressed and compressed (bytes), and
    raw, its output lines with these figures and the throughputs.
    """
    cmd = [rootreadspeed_binary(), "--files", path, "--trees", tree, "--branches", *branches]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    text = proc.stdout + proc.stderr

    def figure(label, unit):
        match = re.search(rf"^{label}:\s+([0-9.eE+-]+) {unit}$", text, re.MULTILINE)
        if proc.returncode != 0 or not match:
            raise TmetError(f"rootreadspeed failed (exit code {proc.returncode}); its output:\n{text}")
        return float(match.group(1))

    return {
        "real_time": figure("Real time", "s"), "cpu_time": figure("CPU time", "s"),
        "uncompressed": int(figure("Uncompressed data read", "bytes")),
        "compressed": int(figure("Compressed data read", "bytes")),
        "raw": [line for line in proc.stdout.splitlines() if re.match(r"(Real|CPU) time|\w+ (data read|throughput)", line)],
    }
