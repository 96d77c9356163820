"""CMS Combine's limits and expected significance of shape cards, as JSON: the reference that
tmet's Limits (analysis/stats/limits.py) is checked against.

Combine is a reference tool here, not a dependency: ``combine`` and ``text2workspace.py``
are taken from PATH (built from cms-analysis/HiggsAnalysis-CombinedLimit). Per card, in a
temporary directory:

    text2workspace.py CARD -o workspace.root
    combine -M AsymptoticLimits workspace.root [OPTIONS]
    combine -M Significance workspace.root -t -1 --expectSignal 1

and the JSON holds, per card (named by its path relative to the JSON's directory), the
limits with tmet's keys (minus2, minus1, expected, plus1, plus2, observed) at full precision
from Combine's ``limit`` trees, the expected significance, Combine's version and the exact
commands. Usage, where Combine is installed:

    python scripts/combine_reference.py OUT.json CARD [CARD ...] [--limit-options "--rMax 3"]
        [--cls-at store/Limits/run2_2018_synth/v1/limits.json]

``--cls-at`` adds, per card, Combine's own CLs at each of tmet's limits (``combine -M
AsymptoticLimits --singlePoint r``, fresh fits at that r): 0.05 where the two agree, a check
that does not depend on the path of Combine's limit search.

The reference cards of the tests are regenerated with
``python scripts/combine_reference.py tests/data/combine/combine_reference.json tests/data/combine/*/datacard.txt``.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

QUANTILES = {0.025: "minus2", 0.16: "minus1", 0.5: "expected", 0.84: "plus1", 0.975: "plus2", -1.0: "observed"}


def run(command, directory):
    """Output of ``command`` (a list) run in ``directory``; a failure exits naming it."""
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"combine_reference: '{shlex.join(command)}' failed ({result.returncode}):\n"
                 f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def limit_tree(path):
    """[(quantileExpected, limit)] of a Combine output file's ``limit`` tree."""
    import uproot

    with uproot.open(path) as tfile:
        tree = tfile["limit"].arrays(["quantileExpected", "limit"], library="np")
    return list(zip(tree["quantileExpected"].tolist(), tree["limit"].tolist()))


def by_key(path):
    """{tmet key: value} of a Combine AsymptoticLimits output (limits, or CLs of --singlePoint)."""
    values = {}
    for quantile, value in limit_tree(path):
        key = min(QUANTILES, key=lambda q: abs(q - quantile))
        if abs(key - quantile) < 1e-3:
            values[QUANTILES[key]] = value
    return values


def combine_card(card, limit_options, tmet_limits=None):
    """Combine's results for one card: limits, significance, version and commands; with
    ``tmet_limits`` ({key: r}) also Combine's CLs at each of them (its --singlePoint)."""
    with tempfile.TemporaryDirectory() as tmp:
        commands = [["text2workspace.py", os.path.abspath(card), "-o", "workspace.root"],
                    ["combine", "-M", "AsymptoticLimits", "workspace.root", "-n", "Limits", *limit_options],
                    ["combine", "-M", "Significance", "workspace.root", "-t", "-1", "--expectSignal", "1",
                     "-n", "Significance"]]
        points = {key: ["combine", "-M", "AsymptoticLimits", "workspace.root", "--singlePoint", repr(r), "-n", key,
                        *limit_options] for key, r in (tmet_limits or {}).items() if key in QUANTILES.values()}
        outputs = [run(command, tmp) for command in commands + list(points.values())]
        version = re.search(r"<<< (v[^ ]+) >>>", outputs[1])
        limits = by_key(os.path.join(tmp, "higgsCombineLimits.AsymptoticLimits.mH120.root"))
        significance = limit_tree(os.path.join(tmp, "higgsCombineSignificance.Significance.mH120.root"))[0][1]
        cls = {key: by_key(os.path.join(tmp, f"higgsCombine{key}.AsymptoticLimits.mH120.root"))[key] for key in points}
    if set(limits) != set(QUANTILES.values()):
        sys.exit(f"combine_reference: Combine gave no {', '.join(sorted(set(QUANTILES.values()) - set(limits)))} "
                 f"limit for {card}")
    result = {"limits": limits, "significance": significance, "combine_version": version.group(1) if version else None,
              "commands": [shlex.join(c).replace(os.path.abspath(card), os.path.basename(card))
                           for c in commands + list(points.values())]}
    if points:
        result["cls_at"] = {key: {"r": tmet_limits[key], "cls": cls[key]} for key in points}
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="JSON file to write")
    parser.add_argument("cards", nargs="+", help="Combine shape cards")
    parser.add_argument("--limit-options", default="", help="extra options of combine -M AsymptoticLimits")
    parser.add_argument("--cls-at", metavar="LIMITS_JSON",
                        help="also Combine's CLs (its --singlePoint) at the limits of a Limits output (limits.json: "
                             "{signal: limits}, a card's signal being the name of its directory)")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("combine", "text2workspace.py") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"combine_reference: {' and '.join(missing)} not on PATH: build CMS Combine "
                 "(cms-analysis/HiggsAnalysis-CombinedLimit) against this ROOT and put its bin/ on PATH")
    base = os.path.dirname(os.path.abspath(args.output))
    tmet = json.load(open(args.cls_at)) if args.cls_at else {}
    results = {}
    for card in args.cards:
        name = os.path.relpath(os.path.abspath(card), base)
        results[name] = combine_card(card, shlex.split(args.limit_options),
                                     tmet.get(os.path.basename(os.path.dirname(os.path.abspath(card)))))
        print(f"{card}: {results[name]['limits']}", flush=True)
    with open(args.output, "w") as out:
        json.dump(results, out, indent=1, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
