"""Train tmet's synthetic top tagger with real Keras and save it as Keras saves it.

    python scripts/train_top_tagger.py TRAINING.npz OUTPUT_DIR [--epochs E]

Runs in a Keras environment of its own, not tmet's (Keras is no dependency of tmet): it was
run with Keras 3.15.1 on the torch 2.13.0 CPU backend (``python3 -m venv keras-venv &&
keras-venv/bin/pip install torch==2.13.0 keras==3.15.1 h5py numpy``, KERAS_BACKEND=torch),
on the triplets of scripts/top_tagger_training_data.py (run in tmet's environment). The
triplets of events with an even event number train the model, the others are held out; the
script prints the model's ROC AUC on the held-out triplets. It writes, in OUTPUT_DIR,
``top_tagger.h5`` (``model.save``), ``top_tagger_scaler.json`` (the features' names, and
the center and scale of the training triplets: the model takes ``(x - center) / scale``)
and ``top_tagger_training.json`` (versions, sizes, the AUC).

The network, small since STEP 1 evaluates it for every triplet of every event: the inputs,
Dense(32, relu), BatchNormalization, Dropout(0.1), Dense(16, tanh), Activation(elu),
Dense(1, sigmoid); binary cross-entropy with the classes weighted to balance, Adam, batches
of 1024, a fixed seed.

To remake tmet's model (data/models/run2_2018_synth/):

    python scripts/top_tagger_training_data.py /tmp/training.npz --events 30000        # tmet's env
    KERAS_BACKEND=torch keras-venv/bin/python scripts/train_top_tagger.py /tmp/training.npz \
        data/models/run2_2018_synth
"""

import argparse
import hashlib
import json
import os

import keras
import numpy as np

SEED = 20261206


def roc_auc(score, label):
    """The area under the ROC curve: the probability that a top outscores combinatorics
    (Mann-Whitney, ties counted half)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(score)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    positive = label == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def model_of(n_inputs):
    return keras.Sequential([
        keras.Input(shape=(n_inputs,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(16, activation="tanh"),
        keras.layers.Activation("elu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("training")
    parser.add_argument("output_dir")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    keras.utils.set_random_seed(SEED)
    with open(args.training, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    data = np.load(args.training)
    x, label, event = data["x"].astype(np.float64), data["label"].astype(np.float64), data["event"]
    features = [str(f) for f in data["features"]]
    train = event % 2 == 0
    center, scale = x[train].mean(axis=0), x[train].std(axis=0)
    scale[scale == 0] = 1.0
    model = model_of(len(features))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    # tops are a few percent of the triplets: weighted to balance the classes, so that a true
    # top scores near 1 and the analysis's working point (score > 0.8) tags most of them
    positive = float(label[train].mean())
    weights = {0: 0.5 / (1.0 - positive), 1: 0.5 / positive}
    model.fit((x[train] - center) / scale, label[train], epochs=args.epochs, batch_size=1024, class_weight=weights,
              verbose=2)
    held_out = (model.predict((x[~train] - center) / scale, batch_size=8192, verbose=0)[:, 0])
    auc = roc_auc(held_out, label[~train])
    print(f"ROC AUC on {int((~train).sum())} held-out triplets ({int(label[~train].sum())} tops): {auc:.4f}")
    os.makedirs(args.output_dir, exist_ok=True)
    model.save(os.path.join(args.output_dir, "top_tagger.h5"))
    with open(os.path.join(args.output_dir, "top_tagger_scaler.json"), "w") as f:
        json.dump({"features": features, "center": center.tolist(), "scale": scale.tolist()}, f, indent=1)
    record = {"keras": keras.__version__, "backend": keras.backend.backend(), "epochs": args.epochs, "seed": SEED,
              "class_weights": weights,
              "training_data_sha256": digest, "triplets": {"train": int(train.sum()), "held_out": int((~train).sum())},
              "held_out_roc_auc": round(float(auc), 4),
              "made_by": "scripts/top_tagger_training_data.py then scripts/train_top_tagger.py"}
    with open(os.path.join(args.output_dir, "top_tagger_training.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
