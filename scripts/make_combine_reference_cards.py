"""The small cards of tests/data/combine/, written with tmet's card writer
(analysis/stats/datacard.py), each covering a regime of Combine's model:

- ``thresholds``: autoMCStats bins above its threshold (one Gaussian per bin) and at or below
  it (per process: Poisson where the content allows, Gaussian where its error exceeds it),
  and a process with zero content (and error) in a bin;
- ``asymmetric_lnn``: asymmetric lnN, with data pulling them past |theta| = 0.5;
- ``one_sided_shape``: a shape whose Up and Down templates move the same way;
- ``with_mcstats`` and ``without_mcstats``: one two-channel card with and without autoMCStats;
- ``blinded``: observation = the background sum.

    python scripts/make_combine_reference_cards.py [DIRECTORY]   # default tests/data/combine

then ``python scripts/combine_reference.py`` on them (its docstring) gives Combine's numbers.
"""

import os
import sys

from analysis.engine.root_setup import import_root
from analysis.stats.datacard import card_text, write_shapes
from config.shifts import EXPERIMENTAL, LUMINOSITY, THEORY

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIRECTORY = os.path.join(HERE, "..", "tests", "data", "combine")


def ramp(values, step):
    """``values`` scaled by 1 + step * i in bin i (a template shifted more in the tail)."""
    return [v * (1 + step * i) for i, v in enumerate(values)]


# {card: {"channels": {channel: {process: (contents, errors) or "data_obs": contents}},
#         "shapes": {source: {process: (up factor per bin, down factor per bin)}}, "lnn": {...}}}
CARDS = {
    "thresholds": {
        "channels": {"sr": {
            "sig": ([1.0, 2.0, 4.0, 6.0, 5.0, 3.0], [0.2, 0.3, 0.4, 0.5, 0.5, 0.4]),
            "bkg1": ([120.0, 60.0, 25.0, 5.0, 2.0, 0.0], [4.0, 3.0, 2.5, 2.0, 1.0, 0.0]),
            "bkg2": ([40.0, 20.0, 8.0, 2.0, 0.4, 0.6], [2.0, 1.5, 1.2, 1.2, 0.7, 0.5]),
            "data_obs": [165, 78, 35, 9, 3, 1]}},
        "shapes": {"jes": {"sig": (ramp([1] * 6, 0.02), ramp([1] * 6, -0.02)),
                           "bkg1": (ramp([1] * 6, 0.04), ramp([1] * 6, -0.03))}},
        "lnn": {"lumi": {"sig": "1.0250", "bkg1": "1.0250", "bkg2": "1.0250"}, "norm_bkg1": {"bkg1": "1.1000"}},
        "mcstats": True,
    },
    "asymmetric_lnn": {
        "channels": {"sr": {
            "sig": ([2.0, 4.0, 6.0], [0.1, 0.2, 0.3]),
            "bkg": ([50.0, 30.0, 10.0], [1.0, 0.8, 0.5]),
            "data_obs": [61, 38, 14]}},
        "shapes": {},
        "lnn": {"norm_bkg": {"bkg": "0.8000/1.3000"}, "norm_sig": {"sig": "0.9000/1.0500"}},
        "mcstats": True,
    },
    "one_sided_shape": {
        "channels": {"sr": {
            "sig": ([1.0, 3.0, 5.0, 4.0], [0.1, 0.2, 0.3, 0.3]),
            "bkg": ([80.0, 40.0, 20.0, 8.0], [1.5, 1.0, 0.8, 0.5]),
            "data_obs": [84, 45, 24, 9]}},
        "shapes": {"scale": {"bkg": (ramp([1] * 4, 0.08), ramp([1] * 4, 0.03))},
                   "jer": {"bkg": (ramp([1] * 4, 0.03), ramp([1] * 4, -0.04)), "sig": (ramp([1] * 4, 0.02), [1] * 4)}},
        "lnn": {"lumi": {"sig": "1.0250", "bkg": "1.0250"}},
        "mcstats": True,
    },
    "with_mcstats": {
        "channels": {
            "sr": {"sig": ([0.5, 1.5, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4]),
                   "tt": ([30.0, 15.0, 6.0, 2.5], [2.0, 1.6, 1.2, 0.9]),
                   "wjets": ([20.0, 8.0, 3.0, 1.0], [2.5, 1.8, 1.1, 0.7]),
                   "data_obs": [49, 26, 11, 5]},
            "cr": {"sig": ([0.1, 0.2, 0.3, 0.2], [0.05, 0.05, 0.05, 0.05]),
                   "tt": ([200.0, 90.0, 30.0, 8.0], [5.0, 3.5, 2.0, 1.2]),
                   "wjets": ([100.0, 40.0, 12.0, 3.0], [6.0, 4.0, 2.0, 1.0]),
                   "data_obs": [310, 128, 45, 10]}},
        "shapes": {"jes": {p: (ramp([1] * 4, s), ramp([1] * 4, -s))
                           for p, s in (("sig", 0.02), ("tt", 0.05), ("wjets", 0.04))}},
        "lnn": {"lumi": {"sig": "1.0250", "tt": "1.0250", "wjets": "1.0250"}, "xsec_tt": {"tt": "0.9451/1.0484"},
                "xsec_wjets": {"wjets": "1.1000"}},
        "mcstats": True,
    },
    "blinded": {
        "channels": {
            "sr": {"sig": ([1.0, 2.0, 3.0], [0.1, 0.2, 0.2]),
                   "bkg": ([25.0, 9.0, 3.0], [1.5, 1.2, 0.9]),
                   "data_obs": None},
            "cr": {"sig": ([0.2, 0.1, 0.1], [0.05, 0.05, 0.05]),
                   "bkg": ([150.0, 60.0, 20.0], [4.0, 2.5, 1.5]),
                   "data_obs": None}},
        "shapes": {"jes": {"bkg": (ramp([1] * 3, 0.05), ramp([1] * 3, -0.05))}},
        "lnn": {"lumi": {"sig": "1.0250", "bkg": "1.0250"}, "norm_bkg": {"bkg": "1.1500"}},
        "mcstats": True,
    },
}
CARDS["without_mcstats"] = dict(CARDS["with_mcstats"], mcstats=False)


def templates_of(spec):
    """{channel: {histogram name: TH1D}} of a card's spec; data_obs None: the background sum."""
    ROOT = import_root()
    out = {}
    for channel, entries in spec["channels"].items():
        processes = [p for p in entries if p != "data_obs"]
        hists = {}

        def hist(name, contents, errors):
            h = ROOT.TH1D(f"{channel}_{name}", name, len(contents), 0.0, float(len(contents)))
            h.SetDirectory(ROOT.nullptr)
            for i, (value, error) in enumerate(zip(contents, errors)):
                h.SetBinContent(i + 1, value)
                h.SetBinError(i + 1, error)
            return h

        for process in processes:
            contents, errors = entries[process]
            hists[process] = hist(process, contents, errors)
            for source, effects in spec["shapes"].items():
                factors = effects.get(process, ([1] * len(contents), [1] * len(contents)))
                for direction, factor in zip(("Up", "Down"), factors):
                    name = f"{process}_{source}{direction}"
                    hists[name] = hist(name, [c * f for c, f in zip(contents, factor)], errors)
        data = entries["data_obs"]
        if data is None:
            data = [sum(entries[p][0][i] for p in processes[1:]) for i in range(len(entries[processes[0]][0]))]
        hists["data_obs"] = hist("data_obs", data, [d ** 0.5 for d in data])
        out[channel] = hists
    return out


def write_card(directory, name, spec):
    """datacard.txt and shapes.root of one card under ``directory``/``name``."""
    path = os.path.join(directory, name)
    os.makedirs(path, exist_ok=True)
    templates = templates_of(spec)
    processes = [p for p in next(iter(spec["channels"].values())) if p != "data_obs"]
    # the groups as the analysis's: shapes experimental, cross sections theory, the luminosity its own
    groups = {EXPERIMENTAL: list(spec["shapes"]), THEORY: [n for n in spec["lnn"] if n.startswith("xsec")],
              LUMINOSITY: [n for n in spec["lnn"] if n == "lumi"]}
    text = card_text(list(templates), templates, "shapes.root", processes[1:], processes[:1], list(spec["shapes"]),
                     spec["lnn"], [f"tmet reference card '{name}', made by scripts/make_combine_reference_cards.py"],
                     groups)
    if not spec["mcstats"]:
        text = text.replace("* autoMCStats 10\n", "")
    with open(os.path.join(path, "datacard.txt"), "w") as card:
        card.write(text)
    write_shapes(os.path.join(path, "shapes.root"), templates)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIRECTORY
    for card_name, card_spec in CARDS.items():
        write_card(target, card_name, card_spec)
