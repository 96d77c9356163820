"""Benchmark: the main job on a simulated analysis facility against the same job here.

The facility is the test suite's (tests/facility_cluster.py, tests/xrootd_server.py): a
Dask scheduler and 2 workers with nannies as another unix user, from their own environment
without tmet (the client ships it), and a real XRootD server on 127.0.0.2 as the store.
Each measurement is ``law run Datacard --workers <cores>`` of the default config with a
fresh version from an empty store (build cache warm): on the facility
(TMET_DASK_SCHEDULER, TMET_STORE=root://...), and locally (local store, Histograms on a
LocalCluster), alternating, --repeats times each, the fastest of each kept. One warm-up
run on the facility first ships tmet and starts the workers' ROOT, as a long-lived cluster
has done before a user's job. Needs root (the workers run as ``nobody``).

    python bench/facility.py [--repeats R]

Last line: ``facility_over_local_time=<r>``.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import REPO
from tests.facility_cluster import FacilityCluster
from tests.xrootd_server import FAST_FAIL_ENV, XRootDServer, make_base_dir


def main_job(base, version, cores, **extra):
    """Wall seconds of one main job with the environment ``extra``."""
    env = {**os.environ, "TMET_STORE": os.path.join(base, "store"), "LAW_HOME": os.path.join(base, "law_home"),
           "PYTHONPATH": REPO, **FAST_FAIL_ENV, **extra}
    subprocess.run(["law", "index"], env=env, check=True, capture_output=True, cwd=REPO)
    start = time.perf_counter()
    proc = subprocess.run(["law", "run", "Datacard", "--version", version, "--workers", str(cores)],
                          env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"law run Datacard failed (exit code {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each (default: 2)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/facility.py runs the facility's workers as another unix user: run it as root")
    cores = len(os.sched_getaffinity(0))
    server = XRootDServer(make_base_dir())
    server.start()
    cluster = FacilityCluster(2, extra_env=FAST_FAIL_ENV, tmet="shipped").start()
    base = tempfile.mkdtemp(prefix="tmet_facility_bench_")
    times = {"facility": [], "local": []}
    try:
        def facility(version):
            return main_job(base, version, cores, TMET_STORE=f"{server.url}//store/bench",
                            TMET_DASK_SCHEDULER=cluster.address)

        print(f"warm-up on the facility: {facility('warmup'):.1f} s", flush=True)
        for i in range(args.repeats):
            times["facility"].append(facility(f"f{i}"))
            times["local"].append(main_job(base, f"l{i}", cores, TMET_STORE=os.path.join(base, f"store{i}")))
            print(f"run {i + 1}: facility {times['facility'][-1]:.1f} s, local {times['local'][-1]:.1f} s", flush=True)
    finally:
        cluster.stop()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(server.base_dir, ignore_errors=True)
    on_facility, here = min(times["facility"]), min(times["local"])
    print(f"main job, fastest of {args.repeats}: facility (2 workers, XRootD store) {on_facility:.1f} s, "
          f"local ({cores} cores, local store) {here:.1f} s")
    print(f"facility_over_local_time={on_facility / here:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
