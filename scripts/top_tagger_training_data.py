"""The training data of tmet's synthetic top tagger: every triplet STEP 1 scores in generated
events with hadronic tops, its features (the config's, in the tagger's order) and its truth.

    python scripts/top_tagger_training_data.py OUTPUT.npz [--events N]

Runs in tmet's environment (``source setup.sh``): it generates ``N`` events of each dataset of
DATASETS with tmet's generator (seeds of their own, not the campaign's files), applies STEP
1's preselection and candidate jets (analysis.physics.top_candidates: the same C++ as the
event loop) and visits every triplet in the mass window. A triplet is a top (label 1) when
its three jets are the three decay jets of one generated top (``Jet_genTopIdx``, which only
synthetic simulation holds), else combinatorics (0). Writes ``x`` (rows of features),
``label``, ``event`` (for an even/odd split by event) and ``features`` (their names). The
model is trained on them by scripts/train_top_tagger.py in a Keras environment.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from analysis.engine import root_setup  # noqa: E402
from analysis.physics.generator import generate_file  # noqa: E402
from analysis.physics.top_candidates import define_candidate_jets, triplet_source  # noqa: E402
from config.analysis import get_config  # noqa: E402

# semileptonic and hadronic tt and a signal point: one and two hadronic tops per event
DATASETS = ("tt_sl", "tt_fh", "tdm_ps_m500")
# a seed of the training samples' own (GenerateSample's files use the datasets' seeds)
SEED_OFFSET = 7919

ROWS = """
// every triplet's features and truth (1: the three jets of one generated top), flattened
template <class T>
ROOT::RVecD tmet_training_rows(const std::vector<tmet_top::Jet>& jets, const T& top_index, double low, double high) {
    ROOT::RVecD out;
    double x[tmet_top::N_FEATURES];
    tmet::top::each_triplet(jets, low, high, [&](const auto& b, const auto& j1, const auto& j2,
                                                 const tmet::top::P4& trijet, const tmet::top::P4& dijet) {
        tmet_top::features(b, j1, j2, trijet, dijet, x);
        out.insert(out.end(), x, x + tmet_top::N_FEATURES);
        const int top = top_index[b.index];
        out.push_back(top >= 0 && top == top_index[j1.index] && top == top_index[j2.index] ? 1.0 : 0.0);
    });
    return out;
}
"""


def training_rows(config, path):
    """(x, label, event) of every triplet of the generated file ``path``."""
    ROOT = root_setup.load("top_candidates.h")
    if not hasattr(ROOT, "tmet_training_rows"):
        if not ROOT.gInterpreter.Declare(triplet_source(config) + ROWS):
            raise RuntimeError("the training rows' C++ did not compile (messages above)")
    window = config.x.top_candidates["mass_window"]
    df = define_candidate_jets(ROOT.RDataFrame("Events", path), config, config.x.nano_version, False)
    df = df.Define("rows", f"tmet_training_rows(top_jets, Jet_genTopIdx, {window[0]!r}, {window[1]!r})")
    columns = df.Define("row_event", "ROOT::RVec<ULong64_t>(rows.size(), event)").AsNumpy(["rows", "row_event"])
    flat = np.concatenate([np.asarray(r) for r in columns["rows"]]) if len(columns["rows"]) else np.zeros(0)
    width = len(config.x.top_tagger["features"]) + 1
    rows = flat.reshape(-1, width)
    events = np.concatenate([np.asarray(e) for e in columns["row_event"]])[::width]
    return rows[:, :-1], rows[:, -1].astype(np.int8), events


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--events", type=int, default=40000, help="events generated per dataset (default 40000)")
    args = parser.parse_args()
    config = get_config("run2_2018_synth")
    parts = []
    with tempfile.TemporaryDirectory() as directory:
        for k, name in enumerate(DATASETS):
            dataset = config.get_dataset(name)
            path = os.path.join(directory, f"{name}.root")
            generate_file(path, config, dataset, SEED_OFFSET + k, n_events=args.events)
            parts.append(training_rows(config, path))
            x, label, _ = parts[-1]
            print(f"{name}: {len(x)} triplets, {int(label.sum())} tops", flush=True)
    x, label, event = (np.concatenate(p) for p in zip(*parts))
    np.savez_compressed(args.output, x=x, label=label, event=event, features=np.array(config.x.top_tagger["features"]))
    print(f"wrote {args.output}: {len(x)} triplets, {label.mean():.3f} of them tops")


if __name__ == "__main__":
    main()
