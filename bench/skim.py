"""Benchmark: the single-threaded skim against the I/O limit of the branches it reads.

The skim (analysis.skim.skim_files) reads a fixed set of Events branches, applies the
preselection and snapshots the survivors. However light its selection, it cannot be
faster than reading and decompressing those branches; rootreadspeed measures that limit
(plain TBranch::GetEntry over the same branches, one thread). The ratio of the two rates
says how much of the skim's time goes to reading, and how much to RDataFrame, the
selection and writing the output. A ratio near 1 means the skim is I/O bound; a low one
means there is framework or output cost worth looking at.

    python bench/skim.py [--events N] [--keep]

The sample (synthetic tt_sl, NanoAODv9 layout) is written once under bench/out/ and
reused while it holds N events. The file is in the page cache for both measurements
(it has just been written or read), so neither includes disk reads. rootreadspeed's
real time includes ~0.5 s of ROOT start-up (its first TFile::Open), so use >= 1M events.

Last line: ``skim_over_readspeed=<skim events/s / rootreadspeed events/s>``.
"""

import argparse
import os
import sys
import time

from analysis import root_setup
from analysis.skim import read_branches, skim_files
from bench.common import OUT_DIR, rootreadspeed, sample
from config.analysis import get_config

DATASET = "tt_sl"
WARMUP_EVENTS = 10_000
MB = 1024 * 1024  # rootreadspeed's MB


def timed_skim(path, output, config):
    """(wall s, CPU s, input events, selected events) of one single-threaded skim_files call."""
    start, cpu = time.perf_counter(), time.process_time()
    result = skim_files([path], output, config, is_data=False, threads=1)
    return time.perf_counter() - start, time.process_time() - cpu, result.events_in, result.events_out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events in the sample (default: 2000000)")
    parser.add_argument("--keep", action="store_true", help="keep the skim outputs (the sample is always kept)")
    args = parser.parse_args()

    root_setup.import_root()
    config = get_config("run2_2018_synth")
    path, gen_time = sample(config, DATASET, args.events)
    print(f"sample: {path} ({'generated in %.1f s' % gen_time if gen_time else 'reused'})")

    branches = read_branches(config, is_data=False)
    speed = rootreadspeed(path, "Events", branches)
    real_time, unzipped, zipped = speed["real_time"], speed["uncompressed"], speed["compressed"]
    print(f"rootreadspeed, {len(branches)} branches, 1 thread:")
    for line in speed["raw"]:
        print("    " + line)

    # warm-up on a small file: the one-off start-up of RDataFrame in this process (loading
    # libraries, parsing headers, jitting the preselection and Snapshot) is paid here
    warm_path, _ = sample(config, DATASET, WARMUP_EVENTS)
    warm_output = os.path.join(OUT_DIR, f"skim_warmup_n{WARMUP_EVENTS}.root")
    warm_time = timed_skim(warm_path, warm_output, config)[0]

    output = os.path.join(OUT_DIR, f"skim_{DATASET}_n{args.events}.root")
    skim_time, skim_cpu, n_in, n_out = timed_skim(path, output, config)
    size = os.path.getsize(output)
    if not args.keep:
        for name in (warm_output, output):
            os.remove(name)

    read_rate, skim_rate = args.events / real_time, n_in / skim_time
    rows = [
        ("events", f"{args.events}"),
        ("rootreadspeed real time", f"{real_time:.2f} s (CPU {speed['cpu_time']:.2f} s)"),
        ("rootreadspeed events/s", f"{read_rate:,.0f}"),
        ("rootreadspeed MB/s", f"{unzipped / MB / real_time:.1f} uncompressed, {zipped / MB / real_time:.1f} compressed"
                               f" ({unzipped / args.events:.0f} B/event uncompressed)"),
        (f"skim warm-up ({WARMUP_EVENTS} events)", f"{warm_time:.2f} s (start-up, not counted)"),
        ("skim wall time", f"{skim_time:.2f} s (CPU {skim_cpu:.2f} s)"),
        ("skim events/s", f"{skim_rate:,.0f}"),
        ("skim selected", f"{n_out} ({100 * n_out / n_in:.1f}%)"),
        ("skim output size", f"{size / MB:.1f} MB{' (kept: ' + output + ')' if args.keep else ''}"),
        ("ratio on CPU time", f"{speed['cpu_time'] / skim_cpu:.3f} (less sensitive to other load)"),
        ("load average (1 min)", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"),
    ]
    print("\nskim time = one skim_files() call: input checks, the Events loop (preselection, Count, "
          "Sum(genWeight), Snapshot), the Runs copy and the sum_genWeight write; after a warm-up skim")
    for name, value in rows:
        print(f"  {name:<28}{value}")
    print(f"skim_over_readspeed={skim_rate / read_rate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
