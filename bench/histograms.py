"""Benchmark: tmet's Histograms against a columnar implementation of the same analysis.

Both sides fill the histograms of ANALYSIS.md's categories and variables from the same
generated tt_sl events, per core: tmet's compiled RDataFrame graph (analysis.physics.histograms.
make_histograms) on its own skims (RNTuples, config.x.skim_format), and ``../shared/peers/columnar.py`` (uproot, awkward,
numpy, correctionlib, hist; its path is --peer or $TMET_PEER) on TTree skims of the same
events. The samples are written as CMS writes NanoAOD (bench.common.REALISTIC: LZMA 9,
NanoAOD's float precision), pass STEP 1 (its output LZMA 9 too), are skimmed once and kept
in bench/out/.

Every measurement is a fresh process pinned to one core (Dask: to as many cores as it
has workers); the measurements alternate, --repeats times, and each figure is the fastest
of its runs:

- nominal / all 23 shifts: a warm-up call on a small skim (the same graph: the library
  loaded, the corrections bound; the peer's corrections loaded), then the timed call on
  the --events sample's skims;
- first call: the first all-shifts call of a fresh process on the small skim, tmet's
  library already built (the build cache is warm), ROOT imported and its interpreter
  started with the imports (as in any tmet task process); the peer's first call likewise;
- peak RSS of an all-shifts process on the skims of 2 x --events over that on --events;
- Dask: the all-shifts call on a LocalCluster of 1 and of 2 single-threaded workers, each
  after a warm-up on the small skim, in entry ranges of equal size.

The category counts of every shift must agree within 0.5 % (the two use different random
numbers for the JER smearing).

    python bench/histograms.py [--events N] [--repeats R] [--peer PATH]

Last lines: nominal_over_peer_time, allshifts_over_peer_time, first_call_over_peer,
rss_growth, dask2_over_dask1_speed.
"""

import importlib.util
import json
import os
import resource
import sys
import time

from bench.common import OUT_DIR, REPO, bench_arguments, bench_core, realistic_config, run_pinned, skim, step1_sample

DATASET, N_FILES, WARMUP_EVENTS = "tt_sl", 4, 50_000
DEFAULT_PEER = os.path.join(os.path.dirname(REPO), "shared", "peers", "columnar.py")
COUNT_TOLERANCE = 0.005


# ---------------------------------------------------------------------------------------
# one measurement, in its own process


def _tmet_call(config, paths, btag, shifts, client=None):
    """(seconds, {shift: category counts}) of one make_histograms call."""
    from analysis.physics.histograms import make_histograms

    start = time.perf_counter()
    hists = make_histograms(paths, config, False, btag, shifts, client=client, threads=1)
    seconds = time.perf_counter() - start
    return seconds, {shift: [int(hists[shift][(c.name, "met")].entries) for c in config.categories]
                     for shift in hists}


def _peer_call(peer, paths, btag, shifts):
    start = time.perf_counter()
    _, counts, _ = peer.run(paths, btag, shifts)
    return time.perf_counter() - start, counts


def measure(spec):
    """Run the measurement ``spec`` (a dict, see main) here; returns its figures."""
    from analysis.engine import root_setup

    root_setup.import_root().gInterpreter.ProcessLine(";")  # start ROOT's interpreter with the imports
    from config.analysis import get_config
    from config.shifts import shape_shifts

    config = get_config("run2_2018_synth")
    shifts = [config.get_shift("nominal")] + (shape_shifts(config) if spec["shifts"] == "all" else [])
    if spec["side"] == "peer":
        loader = importlib.util.spec_from_file_location("columnar", spec["peer"])
        peer = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(peer)

        def call(paths):
            return _peer_call(peer, paths, spec["btag"], spec["shifts"])
    elif spec["side"] == "dask":
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=spec["workers"], threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)

        def call(paths):
            return _tmet_call(config, paths, spec["btag"], shifts, client)
    else:
        def call(paths):
            return _tmet_call(config, paths, spec["btag"], shifts)
    if spec["mode"] == "first":
        seconds, counts = call([spec["warm"]])
    else:
        call([spec["warm"]])
        seconds, counts = call(spec["paths"])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "counts": counts, "rss_mb": rss}


# ---------------------------------------------------------------------------------------
# the samples and the comparison


def prepare(events):
    """{"tmet": tmet's skims (the config's format), "peer": TTree skims of the same events},
    each a dict of the --events sample's skims ("paths"), those of twice as many ("double")
    and the warm-up skim ("warm"); and the b-tag efficiency JSON; made once under bench/out/."""
    from analysis.physics.btag import count_jets, efficiencies, write_efficiency_json

    config = realistic_config()
    samples = [step1_sample(config, DATASET, events // N_FILES, i) for i in range(2 * N_FILES)]
    warm = step1_sample(config, DATASET, WARMUP_EVENTS, 99)
    skims = {}
    for side, output_format in (("tmet", None), ("peer", "TTree")):
        double = [skim(config, path, output_format=output_format) for path in samples]
        skims[side] = {"paths": double[:N_FILES], "double": double,
                       "warm": skim(config, warm, output_format=output_format)}
    btag = os.path.join(OUT_DIR, f"btag_{DATASET}_n{events}_nano.json")
    if not os.path.exists(btag) or os.path.getmtime(btag) < max(map(os.path.getmtime, skims["tmet"]["paths"])):
        write_efficiency_json(btag, config, efficiencies(count_jets(skims["tmet"]["paths"], config)), "bench")
    return skims, btag


def compare_counts(ours, theirs):
    """The largest relative difference of the category counts of any shift; raises if the
    two do not have the same shifts."""
    if sorted(ours) != sorted(theirs):
        raise SystemExit(f"the two sides filled different shifts: {sorted(set(ours) ^ set(theirs))}")
    worst = 0.0
    for shift in ours:
        for a, b in zip(ours[shift], theirs[shift]):
            worst = max(worst, abs(a - b) / max(a, b, 1))
    return worst


def main():
    args = bench_arguments(__doc__, measure, 3,
                           ("--events", {"type": int, "default": 2_000_000,
                                         "help": f"generated events, in {N_FILES} files"}),
                           ("--peer", {"default": os.environ.get("TMET_PEER", DEFAULT_PEER),
                                       "help": "the columnar peer"}))

    start = time.perf_counter()
    skims, btag = prepare(args.events)
    print(f"samples (prepared/checked in {time.perf_counter() - start:.0f} s): {N_FILES} skims of {args.events} "
          f"generated {DATASET} events, written as CMS's NanoAOD (LZMA 9, NanoAOD precision); "
          f"{len(skims['tmet']['double'])} skims for the memory figure; warm-up skim {skims['tmet']['warm']}; "
          f"tmet reads its own skims (config.x.skim_format), the peer TTree skims of the same events")
    have_peer = os.path.exists(args.peer)
    if not have_peer:
        print(f"no columnar peer at {args.peer} (--peer, $TMET_PEER): the comparison with it is skipped")
    core = bench_core()
    base = {"btag": btag, "peer": args.peer}
    runs = {}
    for side in ("tmet", "peer") if have_peer else ("tmet",):
        files = {"paths": skims[side]["paths"], "warm": skims[side]["warm"]}
        for shifts in ("nominal", "all"):
            runs[f"{side} {shifts}"] = ({**base, **files, "side": side, "shifts": shifts, "mode": "timed"}, [core])
        runs[f"{side} first call"] = ({**base, **files, "side": side, "shifts": "all", "mode": "first"}, [core])
    tmet_files = {"paths": skims["tmet"]["paths"], "warm": skims["tmet"]["warm"]}
    runs["tmet all, 2x events"] = ({**base, **tmet_files, "paths": skims["tmet"]["double"], "side": "tmet",
                                    "shifts": "all", "mode": "timed"}, [core])
    for workers in (1, 2):
        cores = sorted(os.sched_getaffinity(0))[-workers:]
        runs[f"dask {workers} worker(s)"] = ({**base, **tmet_files, "side": "dask", "workers": workers,
                                             "shifts": "all", "mode": "timed"}, cores)
    run_pinned(["-m", "bench.histograms", "--measure", json.dumps(runs["tmet all"][0])], [core])  # builds the library

    results = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, (spec, cores) in runs.items():
            results[name].append(run_pinned(["-m", "bench.histograms", "--measure", json.dumps(spec)], cores))
    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in results.items()}
    print(f"wall seconds of each call ({args.repeats} fresh processes each, in turn; fastest kept), peak RSS:")
    for name, r in results.items():
        print(f"  {name:<24}" + ", ".join(f"{x['seconds']:.3f}" for x in r)
              + f" s   peak RSS {best[name]['rss_mb']:.0f} MB")
    skimmed = sum(best["tmet nominal"]["counts"]["nominal"])
    print(f"  (nominal events in some category: {skimmed}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")
    ratios = {}
    if have_peer:
        for shifts in ("nominal", "all"):
            worst = compare_counts(best[f"tmet {shifts}"]["counts"], best[f"peer {shifts}"]["counts"])
            print(f"category counts, {shifts}: largest relative difference {worst:.4f} "
                  f"({'within' if worst <= COUNT_TOLERANCE else 'NOT within'} {COUNT_TOLERANCE})")
            if worst > COUNT_TOLERANCE:
                raise SystemExit("the two sides disagree on the category counts")
        ratios["nominal_over_peer_time"] = best["tmet nominal"]["seconds"] / best["peer nominal"]["seconds"]
        ratios["allshifts_over_peer_time"] = best["tmet all"]["seconds"] / best["peer all"]["seconds"]
        ratios["first_call_over_peer"] = best["tmet first call"]["seconds"] / best["peer first call"]["seconds"]
    ratios["rss_growth"] = best["tmet all, 2x events"]["rss_mb"] / best["tmet all"]["rss_mb"]
    ratios["dask2_over_dask1_speed"] = best["dask 1 worker(s)"]["seconds"] / best["dask 2 worker(s)"]["seconds"]
    for name, value in ratios.items():
        print(f"{name}={value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
