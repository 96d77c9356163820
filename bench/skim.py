"""Benchmark: the single-threaded skim against the I/O limit of the branches it reads.

The skim (analysis.physics.skim.skim_files) reads a fixed set of Events branches, applies the
preselection and snapshots the survivors. However light its selection, it cannot be
faster than reading and decompressing those branches; rootreadspeed measures that limit
(plain TBranch::GetEntry over the same branches, one thread). The ratio of the two rates
says how much of the skim's time is reading, and how much is the selection and writing.

The sample is STEP 1's output (what a skim reads) of synthetic tt_sl written as CMS writes
NanoAOD (bench.common.REALISTIC: LZMA level 9, NanoAOD's float precision; STEP 1's output
LZMA 9 too), made once under bench/out/. Both are measured in fresh
processes pinned to one core, alternating, --repeats times, fastest kept; the skim process
first skims a small file (its library loaded: start-up is not timed), then times the
skim of the sample; rootreadspeed's start-up is subtracted (its time on the small file).
The files are in the page cache for both (no disk reads).

    python bench/skim.py [--events N] [--repeats R]

Last line: ``skim_over_readspeed=<skim events/s / rootreadspeed events/s>``.
"""

import json
import os
import sys
import time

from bench.common import OUT_DIR, bench_arguments, bench_core, realistic_config, rootreadspeed, run_pinned, step1_sample

DATASET = "tt_sl"
WARMUP_EVENTS = 10_000
MB = 1024 * 1024  # rootreadspeed's MB


def measure(spec):
    """Run the measurement ``spec`` here; returns its figures."""
    if spec["side"] == "readspeed":
        # rootreadspeed's real time includes ROOT's start-up (about 0.5 s): that of the
        # small file (start-up and its few events) is subtracted
        start_up = rootreadspeed(spec["warm"], "Events", spec["branches"])
        speed = rootreadspeed(spec["path"], "Events", spec["branches"])
        return {**speed, "real_time": speed["real_time"] - start_up["real_time"],
                "cpu_time": speed["cpu_time"] - start_up["cpu_time"]}
    from analysis.physics.skim import skim_files

    config = realistic_config()
    output = os.path.join(OUT_DIR, f"skim_bench_{os.getpid()}.root")
    try:
        skim_files([spec["warm"]], output, config, is_data=False, threads=1)
        start, cpu = time.perf_counter(), time.process_time()
        result = skim_files([spec["path"]], output, config, is_data=False, threads=1)
        real_time, cpu_time = time.perf_counter() - start, time.process_time() - cpu
        size = os.path.getsize(output)
    finally:
        if os.path.exists(output):
            os.remove(output)
    return {"real_time": real_time, "cpu_time": cpu_time, "events_in": result.events_in,
            "events_out": result.events_out, "size": size}


def main():
    args = bench_arguments(__doc__, measure, 3,
                           ("--events", {"type": int, "default": 500_000,
                                         "help": "events in the sample (default: 500000)"}))

    from analysis.physics.skim import read_branches

    config = realistic_config()
    path = step1_sample(config, DATASET, args.events)
    warm = step1_sample(config, DATASET, WARMUP_EVENTS, 99)
    print(f"sample: {path}, STEP 1's output of {args.events} generated events written as CMS's NanoAOD (LZMA 9, "
          f"NanoAOD precision)", flush=True)
    branches = read_branches(config, is_data=False)
    specs = {"readspeed": {"side": "readspeed", "path": path, "warm": warm, "branches": branches},
             "skim": {"side": "skim", "path": path, "warm": warm}}
    runs = {name: [] for name in specs}
    for _ in range(args.repeats):
        for name, spec in specs.items():
            runs[name].append(run_pinned([os.path.abspath(__file__), "--measure", json.dumps(spec)], [bench_core()]))
    speed = min(runs["readspeed"], key=lambda r: r["real_time"])
    skim = min(runs["skim"], key=lambda r: r["real_time"])
    events = skim["events_in"]  # those of STEP 1's output, which both sides read
    read_rate, skim_rate = events / speed["real_time"], events / skim["real_time"]
    rows = [
        ("events", f"{events} (STEP 1's output of {args.events})"),
        ("rootreadspeed", ", ".join(f"{r['real_time']:.2f}" for r in runs["readspeed"]) + " s"),
        ("rootreadspeed MB/s", f"{speed['uncompressed'] / MB / speed['real_time']:.1f} uncompressed, "
                               f"{speed['compressed'] / MB / speed['real_time']:.1f} compressed "
                               f"({speed['uncompressed'] / events:.0f} B/event uncompressed, "
                               f"{speed['compressed'] / events:.0f} compressed)"),
        ("skim", ", ".join(f"{r['real_time']:.2f}" for r in runs["skim"]) + f" s (CPU {skim['cpu_time']:.2f} s)"),
        ("skim selected", f"{skim['events_out']} ({100 * skim['events_out'] / skim['events_in']:.1f}%), "
                          f"output {skim['size'] / MB:.1f} MB"),
        ("events/s", f"skim {skim_rate:,.0f}, rootreadspeed {read_rate:,.0f}"),
        ("ratio on CPU time", f"{speed['cpu_time'] / skim['cpu_time']:.3f} (less sensitive to other load)"),
        ("load average (1 min)", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"),
    ]
    print(f"wall seconds ({args.repeats} fresh processes each, in turn, on core {bench_core()}; fastest kept):")
    for name, value in rows:
        print(f"  {name:<22}{value}")
    print(f"skim_over_readspeed={skim_rate / read_rate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
