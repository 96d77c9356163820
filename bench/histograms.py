"""Benchmark: the Histograms graph against the I/O limit of the skim branches it reads.

Histograms reads skims, so everything is measured on skims: a synthetic tt_sl sample of
--events events in 4 files (so that Dask can split it) is generated, skimmed and its
b-tag efficiencies measured once under bench/out/ (reused on reruns). Then, all on the
same skims (in the page cache):

1. rootreadspeed, 1 thread, on exactly the skim branches the graph reads: the I/O and
   decompression limit of any single-threaded pass; and an RDataFrame pass that only
   reads the same branches for every event, RDataFrame's own reading cost;
2. make_histograms(shifts=["nominal"], threads=1), local executor, and the same nominal
   graph cut short after the selection and after the weights: where its time goes;
3. make_histograms(nominal + every shape shift, threads=1): the cost of the Varys;
4. the same all-shifts graph on a Dask LocalCluster of 1 and of 2 single-threaded
   worker processes: how distributed RDataFrame scales.

Each timed call is one make_histograms() (graph building, event loop, VariationsFor
results, flow folding), or one nominal part, preceded by an untimed warm-up on a small
skim with the same norm and b-tag JSON, i.e. the same graph code, so that jitting (cached
per process) is not timed; on Dask every worker first runs the graph locally on that skim
(``Client.run``: each worker, whatever the scheduler would do with a few small tasks),
then the cluster runs it once distributed. The machine's speed drifts by 15-30 % over
minutes, so the runs compared alternate (selection, + weights, nominal, all shifts,
selection, ...; 1 worker, 2 workers, 1 worker, ...), --repeats times, and each figure is
the fastest of its runs (all printed).

    python bench/histograms.py [--events N] [--partitions P] [--repeats R]

Last lines: nominal/readspeed speed, all-shifts/nominal time, Dask 2-worker/1-worker speed.
"""

import argparse
import functools
import os
import re
import sys
import time

from analysis import corrections, root_setup
from analysis.btag import count_jets, efficiencies, write_efficiency_json
from analysis.histograms import build_graph, make_histograms
from analysis.selection import KERNELS, define_selection
from analysis.skim import read_branches, skim_files, sum_of_weights
from analysis.weights import define_weights, normalization
from bench.common import OUT_DIR, rootreadspeed_binary, sample
from config.analysis import get_config
from config.shifts import shape_shifts

DATASET, N_FILES, WARMUP_EVENTS = "tt_sl", 4, 50_000


def skim(config, path):
    """Skim of ``path`` next to it (made once; written to a temporary file, then renamed)."""
    output = path.replace(".root", "_skim.root")
    if not os.path.exists(output):
        skim_files([path], output + ".tmp.root", config, is_data=False, threads=1)
        os.replace(output + ".tmp.root", output)
    return output


def graph_branches(config, shifts):
    """Skim branches named in the Histograms graph's expressions (+ the counts nX of read X_*)."""
    class Recorder:  # stands in for the RDataFrame: every node call records its strings
        text = []

        def __getattr__(self, name):
            return lambda *args: self.text.extend(str(a) for a in args) or self
    build_graph(Recorder(), config, False, 1.0, "eff.json", shifts)
    words = set(re.findall(r"\w+", " ".join(Recorder.text)))
    used = [b for b in read_branches(config, is_data=False) if b in words]
    return [b for b in read_branches(config, is_data=False)
            if b in used or any(re.match(b[1:] + "(_|$)", u) for u in used if b.startswith("n"))]


def readspeed(paths, branches):
    """rootreadspeed real time (s) over ``paths``, one thread: the faster of two runs, so that
    both it and the timed graphs read from the page cache (its output lines are printed)."""
    import subprocess
    cmd = [rootreadspeed_binary(), "--files", *paths, "--trees", "Events", "--branches", *branches]
    runs = []
    for _ in range(2):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        runs.append((float(re.search(r"^Real time:\s+([0-9.eE+-]+) s$", out, re.MULTILINE).group(1)), out))
    real, out = min(runs)
    print("\n".join("    " + l for l in out.splitlines() if re.match(r"(Real|CPU) time|\w+ (data read|throughput)", l)))
    return real


def rdataframe_read(paths, branches):
    """An RDataFrame pass that only reads ``branches`` for every event (one Define touching
    each, a Sum): what RDataFrame's per-entry column reading costs before any computation."""
    ROOT = root_setup.import_root()
    df = ROOT.RDataFrame("Events", ROOT.std.vector["std::string"](paths))
    terms = [f"double({b}.size())" if "RVec" in df.GetColumnType(b) else f"double({b})" for b in branches]
    return df.Define("touched", " + ".join(terms)).Sum("touched").GetValue()


def nominal_part(paths, config, is_data, norm, btag_efficiency, with_weights):
    """The nominal Histograms graph without its histograms: the selection's events counted
    (``with_weights``: the weight summed). Its time against the whole graph's is the share
    of the selection, the weights and the fills."""
    ROOT = corrections.setup(corrections.correction_specs(config, btag_efficiency), KERNELS)
    df = define_selection(ROOT.RDataFrame("Events", ROOT.std.vector["std::string"](paths)), config, is_data,
                          prefilter=True)
    if with_weights:
        return define_weights(df, config, is_data, norm=norm, btag_efficiency=btag_efficiency).Sum("weight").GetValue()
    return df.Count().GetValue()


def timed(fn, *args, **kwargs):
    start, cpu = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - start, time.process_time() - cpu


def fastest(runs, repeats):
    """{name: (wall, cpu) of its fastest run} of ``runs`` {name: () -> (wall, cpu)}, each run
    ``repeats`` times in turn, so that a drift of the machine's speed hits all of them alike."""
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    for name, walls in times.items():
        print(f"  {name}: " + ", ".join(f"{wall:.2f}" for wall, _ in walls) + " s")
    return {name: min(walls, key=lambda run: run[0]) for name, walls in times.items()}


def warm_up(paths, *args):
    """make_histograms on the local executor, for its jitting; returns nothing to ship back."""
    make_histograms(paths, *args)


def dask_time(workers, paths, warm, args, partitions):
    """Wall time of make_histograms(*args) on a new LocalCluster of ``workers`` single-threaded
    workers, after a warm-up on ``warm``. One cluster at a time: with a 1- and a 2-worker
    cluster alive in one process, runs on the 1-worker one took the 2-worker time."""
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(warm_up, [warm], *args)
        make_histograms([warm], *args, client=client, partitions=workers)
        # this process's CPU time is not the workers'
        return timed(make_histograms, paths, *args, client=client, partitions=partitions)[0], None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help=f"generated events, in {N_FILES} files")
    parser.add_argument("--partitions", type=int, default=8, help="Dask partitions of the timed runs (default 8)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each measurement, fastest kept (default 2)")
    args = parser.parse_args()

    root_setup.import_root()
    config = get_config("run2_2018_synth")
    start = time.perf_counter()
    inputs = [sample(config, DATASET, args.events // N_FILES, i)[0] for i in range(N_FILES)]
    paths = [skim(config, p) for p in inputs]
    warm = skim(config, sample(config, DATASET, WARMUP_EVENTS, 99)[0])
    btag_json = os.path.join(OUT_DIR, f"btag_{DATASET}_n{args.events}.json")
    if not os.path.exists(btag_json):
        write_efficiency_json(btag_json, config, efficiencies(count_jets(paths, config)), "bench")
    norm = normalization(config, config.get_dataset(DATASET), sum_of_weights(paths))
    n_events = sum(int(root_setup.import_root().RDataFrame("Events", p).Count().GetValue()) for p in paths)
    print(f"sample: {len(paths)} skims of {args.events} generated {DATASET} events, {n_events} skimmed "
          f"(prepared/checked in {time.perf_counter() - start:.1f} s): {', '.join(paths)}")

    nominal = [config.get_shift("nominal")]
    shifts = nominal + shape_shifts(config)
    branches = graph_branches(config, nominal)
    print(f"rootreadspeed, 1 thread, the {len(branches)} of {len(read_branches(config, False))} skim branches "
          f"the nominal graph reads (all shifts: {len(graph_branches(config, shifts))}):")
    read_time = readspeed(paths, branches)
    hist_args = (config, False, norm, btag_json)

    rdataframe_read([warm], branches)  # warm-up: jit the pass
    rdf_read_time = timed(rdataframe_read, paths, branches)[0]
    print(f"wall times of the timed runs ({args.repeats} each, in turn):")
    runs = {}
    for name, with_weights in (("nominal: selection only", False), ("nominal: + weights", True)):
        nominal_part([warm], *hist_args, with_weights)  # warm-up: jit this graph
        runs[name] = functools.partial(timed, nominal_part, paths, *hist_args, with_weights)
    for name, shift_list in (("nominal", nominal), ("all shifts", shifts)):
        make_histograms([warm], *hist_args, shift_list, threads=1)  # warm-up: jit this graph
        runs[name] = functools.partial(timed, make_histograms, paths, *hist_args, shift_list, threads=1)
    figures = fastest(runs, args.repeats)
    figures.update(fastest({f"dask {workers} worker(s)": functools.partial(
        dask_time, workers, paths, warm, (*hist_args, shifts), args.partitions) for workers in (1, 2)}, args.repeats))

    read_rate = n_events / read_time
    rate = {name: n_events / wall for name, (wall, _) in figures.items()}
    budget = f"nominal budget {read_time / 0.6:.2f} s (0.6 x readspeed)"
    targets = {"nominal: selection only": budget, "nominal: + weights": budget,
               "nominal": f"target >= {0.6 * read_rate:,.0f} (0.6 x readspeed)",
               "all shifts": f"target <= {2.5 * figures['nominal'][0]:.2f} s (2.5 x nominal)",
               "dask 2 worker(s)": f"target <= {figures['dask 1 worker(s)'][0] / 1.6:.2f} s (1.6x faster than 1)"}
    print(f"\ntimed = the fastest of {args.repeats} calls (make_histograms() or a nominal part) on the {n_events} "
          f"skimmed events, after a warm-up on a {WARMUP_EVENTS}-event sample's skim; {len(shifts)} shifts = nominal + {len(shifts) - 1} shape shifts; "
          f"Dask: all shifts, {args.partitions} partitions; EXTRA_CLING_ARGS={os.environ.get('EXTRA_CLING_ARGS', '(unset)')}")
    print(f"  {'measurement':<34}{'wall s':>8}{'CPU s':>8}{'events/s':>11}  target")
    print(f"  {'rootreadspeed':<34}{read_time:>8.2f}{'':>8}{read_rate:>11,.0f}")
    print(f"  {'rdataframe read only':<34}{rdf_read_time:>8.2f}{'':>8}{n_events / rdf_read_time:>11,.0f}")
    for name, (wall, cpu) in figures.items():
        cpu_text = f"{cpu:.2f}" if cpu is not None else "-"
        print(f"  {'histograms ' + name:<34}{wall:>8.2f}{cpu_text:>8}{rate[name]:>11,.0f}  {targets.get(name, '')}")
    print(f"  load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"rdataframe_read_only_over_readspeed={read_time / rdf_read_time:.3f} "
          "(RDataFrame reading every one of these branches for every event)")
    print(f"nominal_over_readspeed={rate['nominal'] / read_rate:.3f}")
    print(f"allshifts_over_nominal_time={figures['all shifts'][0] / figures['nominal'][0]:.3f}")
    print(f"dask2_over_dask1_speed={rate['dask 2 worker(s)'] / rate['dask 1 worker(s)']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
