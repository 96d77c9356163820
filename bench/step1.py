"""Benchmark: STEP 1 (TopCandidates) against the copy it must make anyway, and its candidates
against the columnar peer's.

The sample is synthetic tt_sl written as CMS writes NanoAOD (bench.common.REALISTIC: LZMA
level 9, NanoAOD's float precision), made once under bench/out/. Each measurement runs in a
fresh process pinned to one core, the sides alternating, --repeats times, the fastest kept;
a process first runs its side on a small file (libraries loaded, JIT done), then times it on
the sample:

- ``step1``: tmet's TopCandidates of the sample (analysis.physics.top_candidates: the
  candidates' graph, then the copy of every branch of the preselected events with them),
  compressed as the config says (LZMA 9);
- ``copy``: a plain RDataFrame Snapshot of the same preselected events (STEP 1's
  preselection as a Filter), with the same branches and compression: what STEP 1 costs
  without its candidates (the Snapshot's JIT is not timed: its time on the small file,
  start-up and JIT, is subtracted);
- ``candidates``: tmet's candidates alone: the graph that builds and scores them (reading
  only what they need) and writes each preselected event's candidates, without the copy;
- ``peer``: the columnar peer's ``run()`` (../shared/peers/step1_columnar.py: uproot,
  awkward, numpy) on the same file, with the same model;
- the other choices of STEP 1's output (``top_candidates_output``, ``top_candidates_compression``:
  docs/engine.md) next to ``step1`` (a full copy, LZMA 9): a full copy with ZSTD level 5 and
  LZ4 level 4 (ROOT's general-purpose and fast settings), and the friend file with each of
  the three. Their time and the size of what they write, each over ``step1``'s.

It also checks that tmet's candidates are the peer's (the count per event, the jet
indices; the scores within 1e-5) and prints the largest score difference.

    python bench/step1.py [--events N] [--repeats R]

Last lines: ``step1_over_copy_time=<r>``, ``step1_candidates_over_peer_time=<r>``, and per
choice ``step1_<output>_<algorithm>_<level>_over_full_lzma_9_time=<r>`` and ``..._size=<r>``.
"""

import functools
import json
import os
import sys
import time

from bench.common import OUT_DIR, REPO, bench_arguments, bench_core, realistic_config, run_pinned, sample

DATASET = "tt_sl"
WARMUP_EVENTS = 10_000
PEERS = os.path.join(os.path.dirname(REPO), "shared", "peers")


def _peer():
    sys.path.insert(0, PEERS)
    import step1_columnar

    return step1_columnar


def _step1(path, output, kind="full", compression=None):
    """tmet's STEP 1 of ``path`` into ``output``: a full copy or a friend (``kind``),
    compressed as ``compression`` says (default: the realistic config's, LZMA 9)."""
    from analysis.physics.top_candidates import write_top_candidate_friends, write_top_candidates

    config = realistic_config()
    if compression:
        config.set_aux("top_candidates_compression", compression)
    if kind == "friend":
        write_top_candidate_friends([path], [output], config, config.get_dataset(DATASET))
    else:
        write_top_candidates([path], output, config, config.get_dataset(DATASET))


# STEP 1's other outputs: (kind, compression) by name, each timed and sized against ``step1``
CHOICES = {f"{kind}_{algorithm.lower()}_{level}": (kind, {"algorithm": algorithm, "level": level})
           for kind in ("full", "friend") for algorithm, level in (("LZMA", 9), ("ZSTD", 5), ("LZ4", 4))
           if (kind, algorithm) != ("full", "LZMA")}


def _candidates(path, output):
    """The candidates' graph alone (the first pass of STEP 1), into ``output``."""
    from analysis.engine.schema import input_schema
    from analysis.physics.top_candidates import SELECTION_COMPRESSION, candidate_graph, tagger

    config = realistic_config()
    graph = candidate_graph(config, tagger(config), config.x.nano_version, False)
    library, _ = graph.compile(input_schema(path))
    library.snapshot("Events", [path], 1, library.table(graph.specs), output, SELECTION_COMPRESSION, "TTree")


def _copy(path, output):
    """RDataFrame's Snapshot of STEP 1's preselected events, every branch, LZMA 9."""
    from analysis.engine.root_setup import import_root

    ROOT, config = import_root(), realistic_config()
    presel, compression = config.x.top_candidates["preselection"], config.x.top_candidates_compression
    options = ROOT.RDF.RSnapshotOptions()
    options.fCompressionAlgorithm = getattr(ROOT.RCompressionSetting.EAlgorithm, f"k{compression['algorithm']}")
    options.fCompressionLevel = compression["level"]
    df = ROOT.RDataFrame("Events", path)
    columns = [str(c) for c in df.GetColumnNames()]
    df.Filter(f"MET_pt > {presel['met_min']} && Sum(Jet_pt > {presel['jet_pt_min']}) >= {presel['n_jet_min']}") \
      .Snapshot("Events", output, columns, options)


def _peer_run(path, _output):
    config = realistic_config()
    peer = _peer()
    peer.run([path], peer.load_model(config.x.top_tagger["model"], config.x.top_tagger["scaler"]))


SIDES = {"step1": _step1, "copy": _copy, "candidates": _candidates, "peer": _peer_run,
         **{name: functools.partial(_step1, kind=kind, compression=compression)
            for name, (kind, compression) in CHOICES.items()}}


def measure(spec):
    """Run one side here: on the small file first (not timed), then on the sample."""
    run = SIDES[spec["side"]]
    output = os.path.join(OUT_DIR, f"step1_bench_{spec['side']}_{os.getpid()}.root")
    try:
        start = time.perf_counter()
        run(spec["warm"], output)
        warm_time = time.perf_counter() - start
        start = time.perf_counter()
        run(spec["path"], output)
        real_time = time.perf_counter() - start
        size = os.path.getsize(output) if os.path.exists(output) else 0
    finally:
        if os.path.exists(output):
            os.remove(output)
    if spec["side"] == "copy":  # each Snapshot is jitted anew: its JIT and start, on the small file, out
        real_time -= warm_time
    return {"real_time": real_time, "size": size}


def check_candidates(config, path):
    """The largest difference of tmet's scores from the peer's, after checking that the
    events, candidate counts and jet indices are the same."""
    import awkward as ak
    import numpy as np
    import uproot

    from analysis.physics.top_candidates import write_top_candidates

    output = os.path.join(OUT_DIR, "step1_bench_check.root")
    write_top_candidates([path], output, config, config.get_dataset(DATASET))
    peer = _peer()
    theirs = peer.run([path], peer.load_model(config.x.top_tagger["model"], config.x.top_tagger["scaler"]))
    try:
        with uproot.open(output) as f:
            ours = f["Events"].arrays(["event", "nTopCand", "TopCand_jetIdx1", "TopCand_jetIdx2", "TopCand_jetIdx3",
                                       "TopCand_score"])
    finally:
        os.remove(output)
    if not (np.array_equal(ak.to_numpy(ours["event"]), theirs["event"])
            and np.array_equal(ak.to_numpy(ours["nTopCand"]), theirs["nTopCand"])
            and all(ak.all(ours[f"TopCand_jetIdx{k}"] == theirs[f"TopCand_jetIdx{k}"]) for k in (1, 2, 3))):
        sys.exit("tmet's candidates differ from the peer's: events, counts or jet indices")
    largest = float(ak.max(abs(ours["TopCand_score"] - theirs["TopCand_score"]), axis=None))
    if not largest < 1e-5:
        sys.exit(f"tmet's scores differ from the peer's by {largest:.3g}")
    return largest, int(len(ours)), int(ak.sum(ours["nTopCand"]))


def main():
    args = bench_arguments(__doc__, measure, 3,
                           ("--events", {"type": int, "default": 1_000_000,
                                         "help": "events in the sample (default: 1000000)"}))
    if not os.path.exists(os.path.join(PEERS, "step1_columnar.py")):
        sys.exit(f"the columnar peer is not at {PEERS}")
    config = realistic_config()
    path, gen_time = sample(config, DATASET, args.events)
    warm, _ = sample(config, DATASET, WARMUP_EVENTS, 99)
    print(f"sample: {path} ({'generated in %.1f s' % gen_time if gen_time else 'reused'}), written as CMS's "
          f"NanoAOD (LZMA 9, NanoAOD precision)", flush=True)
    largest, events, candidates = check_candidates(config, path)
    print(f"candidates equal the peer's: {events} preselected events, {candidates} candidates, the same jets; "
          f"largest score difference {largest:.2e}", flush=True)
    core = bench_core()
    times, sizes = {side: [] for side in SIDES}, {}
    for i in range(args.repeats):
        for side in SIDES:
            result = run_pinned([os.path.abspath(__file__), "--measure",
                                 json.dumps({"side": side, "path": path, "warm": warm})], [core])
            times[side].append(result["real_time"])
            sizes[side] = result["size"]
        print(f"run {i + 1}: " + ", ".join(f"{side} {times[side][-1]:.2f} s" for side in SIDES), flush=True)
    best = {side: min(values) for side, values in times.items()}
    print(f"fastest of {args.repeats} on core {core}: " + ", ".join(f"{side} {t:.2f} s" for side, t in best.items()))
    print(f"STEP 1's outputs of {args.events} events (input {os.path.getsize(path)} bytes):")
    for name in ("step1", *CHOICES):
        print(f"  {'full_lzma_9' if name == 'step1' else name:<15} {best[name]:8.2f} s {sizes[name]:>13,} bytes "
              f"({sizes[name] / args.events:.1f} per event)")
    print(f"step1_over_copy_time={best['step1'] / best['copy']:.3f}")
    print(f"step1_candidates_over_peer_time={best['candidates'] / best['peer']:.3f}")
    for name in CHOICES:
        print(f"step1_{name}_over_full_lzma_9_time={best[name] / best['step1']:.3f}")
        print(f"step1_{name}_over_full_lzma_9_size={sizes[name] / sizes['step1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
