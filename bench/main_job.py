"""Benchmark: the main job from an empty store, and the share of it that is not event loops.

Runs ``law run Datacard --workers <cores>`` on the default config with a fresh version in a
fresh store (the build cache of compiled graphs warm, as on any machine after its first
run), --repeats times, and keeps the fastest. Every event loop of the graph (generation,
skim, b-tag counting, snapshot, histograms: what tasks.isolation runs in a child) logs its
wall time; on the machine's cores they would take at least their sum over the cores, so

    main_job_overhead_share = 1 - sum(event loop seconds) / (cores * wall seconds)

is the share of the machine's time spent on anything else: process and interpreter
start-up, JIT, Dask cluster start-up, scheduling, provenance and file moves. (Loops that
overlap with other work on a busy core take longer than alone, so the share is a lower
bound of the overhead.)

    python bench/main_job.py [--repeats R]

Last lines: ``main_job_seconds=<s>``, ``main_job_overhead_share=<r>``.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import REPO

LOOP = re.compile(r"tmet: event loop (\w+) took ([0-9.]+) s")


def run_main_job(base, cores):
    """(wall seconds, {loop function: [seconds, ...]}) of one main job in store ``base``/store."""
    env = {**os.environ, "TMET_STORE": os.path.join(base, "store"), "LAW_HOME": os.path.join(base, "law_home"),
           "PYTHONPATH": REPO}
    subprocess.run(["law", "index"], env=env, check=True, capture_output=True, cwd=REPO)
    start = time.perf_counter()
    proc = subprocess.run(["law", "run", "Datacard", "--version", "bench", "--workers", str(cores)],
                          env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"law run Datacard failed (exit code {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    loops = {}
    for name, seconds in LOOP.findall(proc.stdout + proc.stderr):
        loops.setdefault(name, []).append(float(seconds))
    return wall, loops


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of the main job (default: 2)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    runs = []
    for i in range(args.repeats):
        base = tempfile.mkdtemp(prefix="tmet_main_job_")
        try:
            wall, loops = run_main_job(base, cores)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        loop_seconds = sum(map(sum, loops.values()))
        print(f"run {i + 1}: {wall:.1f} s wall, {sum(map(len, loops.values()))} event loops, {loop_seconds:.1f} s of loops: "
              + ", ".join(f"{name} {len(t)} x {sum(t):.1f} s" for name, t in sorted(loops.items())), flush=True)
        runs.append((wall, loop_seconds))
    wall, loop_seconds = min(runs)
    print(f"fastest of {args.repeats}: {wall:.1f} s on {cores} cores, event loops {loop_seconds:.1f} s "
          f"({loop_seconds / cores:.1f} s over the cores)")
    print(f"main_job_seconds={wall:.1f}")
    print(f"main_job_overhead_share={1 - loop_seconds / (cores * wall):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
