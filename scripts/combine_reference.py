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


def combine_card(card, limit_options):
    """Combine's results for one card: limits, significance, version and commands."""
    with tempfile.TemporaryDirectory() as tmp:
        commands = [["text2workspace.py", os.path.abspath(card), "-o", "workspace.root"],
                    ["combine", "-M", "AsymptoticLimits", "workspace.root", "-n", "Limits", *limit_options],
                    ["combine", "-M", "Significance", "workspace.root", "-t", "-1", "--expectSignal", "1",
                     "-n", "Significance"]]
        outputs = [run(command, tmp) for command in commands]
        version = re.search(r"<<< (v[^ ]+) >>>", outputs[1])
        limits = {}
        for quantile, value in limit_tree(os.path.join(tmp, "higgsCombineLimits.AsymptoticLimits.mH120.root")):
            key = min(QUANTILES, key=lambda q: abs(q - quantile))
            if abs(key - quantile) < 1e-3:
                limits[QUANTILES[key]] = value
        significance = limit_tree(os.path.join(tmp, "higgsCombineSignificance.Significance.mH120.root"))[0][1]
    if set(limits) != set(QUANTILES.values()):
        sys.exit(f"combine_reference: Combine gave no {', '.join(sorted(set(QUANTILES.values()) - set(limits)))} "
                 f"limit for {card}")
    return {"limits": limits, "significance": significance, "combine_version": version.group(1) if version else None,
            "commands": [shlex.join(c).replace(os.path.abspath(card), os.path.basename(card)) for c in commands]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="JSON file to write")
    parser.add_argument("cards", nargs="+", help="Combine shape cards")
    parser.add_argument("--limit-options", default="", help="extra options of combine -M AsymptoticLimits")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("combine", "text2workspace.py") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"combine_reference: {' and '.join(missing)} not on PATH: build CMS Combine "
                 "(cms-analysis/HiggsAnalysis-CombinedLimit) against this ROOT and put its bin/ on PATH")
    base = os.path.dirname(os.path.abspath(args.output))
    results = {}
    for card in args.cards:
        results[os.path.relpath(os.path.abspath(card), base)] = combine_card(card, shlex.split(args.limit_options))
        print(f"{card}: {results[os.path.relpath(os.path.abspath(card), base)]['limits']}", flush=True)
    with open(args.output, "w") as out:
        json.dump(results, out, indent=1, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
