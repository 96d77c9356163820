"""Benchmark: tmet's Limits against CMS Combine on the main job's combined cards.

tmet's side is what the Limits task computes (analysis.stats.limits.config_limits: the
limits and expected significance of every signal) in a fresh process, its start-up (Python,
ROOT, reading the cards) included. Combine's side is what gives Combine's numbers to the
precision tmet gives them: the reference procedure of scripts/combine_reference.py on the
three cards (per card text2workspace.py, a default ``combine -M AsymptoticLimits``, a search
near the limits, some 14-20 ``--singlePoint`` runs and ``--getLimitFromGrid``, two ``combine
-M Significance -t -1 --expectSignal 1``), in one process with its children. For scale, the
bench also times Combine's three default commands per card (``text2workspace.py``,
``combine -M AsymptoticLimits``, ``combine -M Significance -t -1 --expectSignal 1``), whose
limits differ from the reference by up to 1.6 % (19 % for one observed limit). Everything
is pinned to one core; the sides alternate, --repeats times, fastest kept. Combine is taken
from PATH; without it the benchmark says so and stops.

    law run Datacard --version v1          # the main job's cards, once
    python bench/limits.py [--version v1] [--repeats R]

Last line: ``limits_over_combine_time=<tmet seconds / Combine's reference seconds>``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import REPO, bench_arguments, bench_core, run_pinned

CONFIG = "run2_2018_synth"


def combined_cards(version):
    """{card set: combined card path} of the main job's Datacard outputs in the local store."""
    from config.analysis import get_config
    from config.processes import card_sets

    store = os.environ.get("TMET_STORE", os.path.join(REPO, "store"))
    cards = {card_set: os.path.join(store, "Datacard", CONFIG, version, card_set, "datacard_combined.txt")
             for card_set in card_sets(get_config(CONFIG))}
    missing = [path for path in cards.values() if not os.path.exists(path)]
    if missing:
        sys.exit(f"bench/limits.py: no cards at {', '.join(missing)}: run 'law run Datacard --version {version}' first")
    return cards


def measure(spec):
    """tmet's limits of every signal (in this fresh process); its wall time and the limits."""
    start = time.perf_counter()
    from analysis.stats.limits import config_limits
    from config.analysis import get_config

    limits = config_limits(get_config(CONFIG), spec["cards"])
    return {"real_time": time.perf_counter() - start, "limits": limits}


def combine_time(cards):
    """Wall time of scripts/combine_reference.py on every card, pinned to one core (its
    Combine processes inherit the pinning)."""
    core = bench_core()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "combine_reference.py"),
                        os.path.join(tmp, "reference.json"), *cards.values()], check=True, capture_output=True,
                       preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        return time.perf_counter() - start


def combine_default_time(cards):
    """Wall time of Combine's three default commands on every card, each process pinned to one core."""
    core = bench_core()
    start = time.perf_counter()
    for card in cards.values():
        with tempfile.TemporaryDirectory() as tmp:
            for command in (["text2workspace.py", card, "-o", "workspace.root"],
                            ["combine", "-M", "AsymptoticLimits", "workspace.root"],
                            ["combine", "-M", "Significance", "workspace.root", "-t", "-1", "--expectSignal", "1"]):
                subprocess.run(command, cwd=tmp, check=True, capture_output=True,
                               preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    return time.perf_counter() - start


def main():
    args = bench_arguments(__doc__, measure, 2,
                           ("--version", {"default": "v1",
                                          "help": "version of the main job's Datacard outputs (default v1)"}))
    if shutil.which("combine") is None or shutil.which("text2workspace.py") is None:
        sys.exit("bench/limits.py: combine and text2workspace.py are not on PATH (CMS Combine, the reference)")
    cards = combined_cards(args.version)
    tmet_runs, combine_runs, default_runs = [], [], []
    for _ in range(args.repeats):
        tmet_runs.append(run_pinned([os.path.abspath(__file__), "--measure", json.dumps({"cards": cards})],
                                    [bench_core()]))
        combine_runs.append(combine_time(cards))
        default_runs.append(combine_default_time(cards))
    tmet = min(run["real_time"] for run in tmet_runs)
    combine = min(combine_runs)
    print(f"wall seconds ({args.repeats} runs each, in turn, on core {bench_core()}; fastest kept), "
          f"{len(cards)} combined cards of {CONFIG} {args.version}:")
    tmet_times = ", ".join(f"{run['real_time']:.1f}" for run in tmet_runs)
    print(f"  tmet (config_limits, fresh process)                      {tmet_times}")
    print(f"  {'Combine, reference (scripts/combine_reference.py)':<57}{', '.join(f'{t:.1f}' for t in combine_runs)}")
    print(f"  {'Combine, default (text2workspace, AsymptoticLimits, Sig.)':<57}"
          f"{', '.join(f'{t:.1f}' for t in default_runs)}")
    print(f"  {'load average (1 min)':<57}{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"limits_over_combine_default_time={tmet / min(default_runs):.3f}")
    print(f"limits_over_combine_time={tmet / combine:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
