"""Write the Keras model files of tests/test_top_tagger.py into tests/data/models/, with Keras itself.

tmet reads Keras models without Keras (``analysis/engine/model_code.py``), so its tests
need files that real Keras wrote, and Keras's own predictions for them. This script is
run with a Keras installation outside tmet's venv (Keras, TensorFlow and torch are no
dependency of tmet), once per writer; each run writes only the files of its writer, named
after it (``keras3_torch_*``, ``keras3_tensorflow_*``, ``keras2_*``):

- ``<writer>_tagger.h5``: a tagger of the shape of the analysis's, on the ten features of
  a top candidate (``<writer>_tagger_scaler.json``: the scaler tmet applies first): Dense
  layers with activations, a separate Activation layer, BatchNormalization and Dropout,
  trained for a few epochs on toy candidates (so the moving statistics are not trivial);
- ``<writer>_functional.h5`` (not for keras3_tensorflow): the same as a functional
  model, a straight chain, with BatchNormalization without centre and scale, a Dense
  without bias, and the same scaler;
- ``<writer>_activations_<group>.h5`` (not for keras3_tensorflow): four raw inputs
  through one Dense layer per activation of the group, as the layer's activation or as a
  separate Activation layer, untrained (seeded weights wide enough to reach every piece of
  the piecewise activations): every activation of that Keras, checked against it;
- for keras3_torch only, files tmet must refuse: ``keras3_torch_conv1d.h5`` (a Conv1D
  layer) and ``keras3_torch_two_outputs.h5`` (a Dense of two units at the end).

Beside each model tmet reads, ``<name>.expected.json`` holds the inputs (raw features;
the scaler applied here in float64 before Keras) and ``model.predict``'s outputs recorded
when the file was saved, with the Keras version and backend that wrote it.

The committed files were written with Keras 3.15.1 (torch 2.13.0+cpu backend; h5py
3.16.0), Keras 3.15.1 with TensorFlow 2.21.0 (h5py 3.14.0), and tf.keras 2.21.0 (tf_keras
2.21.0 on TensorFlow 2.21.0), numpy 2.4.6 in both venvs. To rerun (from the repository's
root; a venv with ``keras torch`` and one with ``tensorflow-cpu tf_keras``):

    KERAS_BACKEND=torch /work/keras-venv/bin/python scripts/make_test_models.py
    KERAS_BACKEND=tensorflow /work/tf-venv/bin/python scripts/make_test_models.py
    TF_USE_LEGACY_KERAS=1 /work/tf-venv/bin/python scripts/make_test_models.py

Everything is seeded: with these versions each of the three runs rewrites its files byte
for byte.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "models"
FEATURES = ["trijet_pt", "trijet_mass", "dijet_mass", "b_btag", "j1_btag", "j2_btag",
            "dr_j1j2", "dr_b_dijet", "b_pt_frac", "j1_pt_frac"]
SEED = 20260

# the activations each Keras names (keras.activations of Keras 3.15.1; tf_keras 2.21's
# plus the tf.nn functions it deserialises by name), in groups of one file each
# (threshold, glu and sparsemax of Keras 3 are left out: tmet does not read them)
KERAS3_GROUPS = {
    "rectifiers": ["relu", "leaky_relu", "relu6", "elu", "selu", "celu"],
    "smooth": ["softplus", "softsign", "squareplus", "silu", "swish", "gelu", "mish"],
    "sigmoids": ["sigmoid", "hard_sigmoid", "sparse_sigmoid", "log_sigmoid", "hard_silu", "hard_swish"],
    "shrinks": ["tanh", "tanh_shrink", "hard_tanh", "soft_shrink", "hard_shrink", "sparse_plus"],
    "softmax": ["exponential", "softmax", "linear", "log_softmax"],
}
KERAS2_GROUPS = {
    "rectifiers": ["relu", "leaky_relu", "relu6", "elu", "selu"],
    "smooth": ["softplus", "softsign", "swish", "silu", "gelu", "mish"],
    "sigmoids": ["sigmoid", "hard_sigmoid", "tanh"],
    "softmax": ["exponential", "softmax", "linear", "log_softmax"],
}
# the kernel's spread before an activation (its inputs are about ±3): exp stays small
KERNEL_STDDEV = {"exponential": 0.2}


def keras_module():
    """(keras module, writer name, keras version, backend) of this Python."""
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        import tensorflow as tf
        import tf_keras

        return tf_keras, "keras2", tf_keras.__version__, f"tensorflow {tf.__version__}"
    import keras

    backend = keras.backend.backend()
    version = __import__(backend).__version__
    return keras, f"keras3_{backend}", keras.__version__, f"{backend} {version}"


def toy_candidates(rng, n):
    """(features, labels) of n toy top candidates, half of them true tops."""
    top = rng.random(n) < 0.5
    mass = np.where(top, rng.normal(172.5, 18.0, n), rng.uniform(60.0, 450.0, n))
    w_mass = np.where(top, rng.normal(80.4, 11.0, n), rng.uniform(20.0, 300.0, n))
    pt = rng.gamma(3.0, 80.0, n) + 50.0
    b_btag = np.where(top, rng.beta(5.0, 1.2, n), rng.beta(1.0, 3.0, n))
    j1_btag, j2_btag = rng.beta(1.0, 4.0, n), rng.beta(1.0, 4.0, n)
    dr_jj = np.where(top, rng.gamma(4.0, 0.3, n), rng.uniform(0.4, 4.5, n))
    dr_b = np.where(top, rng.gamma(4.0, 0.35, n), rng.uniform(0.4, 5.0, n))
    b_frac, j1_frac = rng.uniform(0.1, 0.7, n), rng.uniform(0.15, 0.8, n)
    x = np.stack([pt, mass, w_mass, b_btag, j1_btag, j2_btag, dr_jj, dr_b, b_frac, j1_frac], axis=1)
    return np.round(x, 4), top.astype("float32")


def write_expected(model, name, inputs, scaler, backend, keras_version):
    """<name>.expected.json: the raw inputs and Keras's predictions of them; ``scaler``:
    (its file name, centres, scales) or None."""
    scaled = inputs if scaler is None else (inputs - scaler[1]) / scaler[2]
    predictions = model.predict(scaled.astype("float32"), verbose=0)
    expected = {"model": f"{name}.h5", "scaler": scaler[0] if scaler else None,
                "keras_version": keras_version, "backend": backend,
                "inputs": inputs.tolist(), "predictions": [float(p) for p in np.asarray(predictions).ravel()]}
    with open(OUTPUT / f"{name}.expected.json", "w") as f:
        json.dump(expected, f)
        f.write("\n")


def tagger(keras, functional):
    layers = keras.layers
    if not functional:
        return keras.Sequential([
            keras.Input(shape=(10,)),
            layers.Dense(16, activation="relu"),
            layers.BatchNormalization(),
            layers.Dropout(0.2),
            layers.Dense(8, activation="tanh"),
            layers.Activation("elu"),
            layers.Dense(1, activation="sigmoid"),
        ])
    inputs = keras.Input(shape=(10,))
    x = layers.Dense(12, activation="selu")(inputs)
    x = layers.BatchNormalization(center=False, scale=False, epsilon=0.01)(x)
    x = layers.Dense(6, use_bias=False)(x)
    x = layers.Activation("softplus")(x)
    x = layers.Dropout(0.1)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


def activation_model(keras, group, seed):
    """Four inputs, one Dense(6) per activation (every second one as an Activation layer), a
    linear Dense(1) at the end."""
    layers, init = keras.layers, keras.initializers
    stack = [keras.Input(shape=(4,))]
    for i, activation in enumerate(group):
        dense = dict(kernel_initializer=init.RandomNormal(stddev=KERNEL_STDDEV.get(activation, 0.9), seed=seed + i),
                     bias_initializer=init.RandomUniform(-1.0, 1.0, seed=seed + 100 + i))
        if i % 2:
            stack += [layers.Dense(6, **dense), layers.Activation(activation)]
        else:
            stack.append(layers.Dense(6, activation=activation, **dense))
    stack.append(layers.Dense(1, kernel_initializer=init.RandomNormal(stddev=0.3, seed=seed + 99)))
    return keras.Sequential(stack)


def main():
    keras, writer, keras_version, backend = keras_module()
    print(f"writing {writer} files (Keras {keras_version}, {backend}) to {OUTPUT}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)

    x, y = toy_candidates(rng, 4000)
    center, scale = np.round(x.mean(axis=0), 3), np.round(x.std(axis=0), 3)
    scaler = (f"{writer}_tagger_scaler.json", center, scale)
    with open(OUTPUT / scaler[0], "w") as f:
        json.dump({"features": FEATURES, "center": center.tolist(), "scale": scale.tolist()}, f, indent=1)
        f.write("\n")
    probe, _ = toy_candidates(rng, 48)

    for functional in (False, True) if writer != "keras3_tensorflow" else (False,):
        name = f"{writer}_{'functional' if functional else 'tagger'}"
        model = tagger(keras, functional)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(((x - center) / scale).astype("float32"), y, epochs=4, batch_size=64, verbose=0)
        model.save(OUTPUT / f"{name}.h5")
        write_expected(model, name, probe, scaler, backend, keras_version)

    if writer == "keras3_tensorflow":
        return
    wide = np.round(np.concatenate([rng.uniform(-3.0, 3.0, (60, 4)), np.zeros((1, 4)),
                                    rng.normal(0.0, 6.0, (3, 4))]), 5)
    groups = KERAS2_GROUPS if writer == "keras2" else KERAS3_GROUPS
    for k, (group, activations) in enumerate(groups.items()):
        name = f"{writer}_activations_{group}"
        model = activation_model(keras, activations, SEED + 1000 * k)
        model.save(OUTPUT / f"{name}.h5")
        write_expected(model, name, wide, None, backend, keras_version)

    if writer == "keras3_torch":
        layers = keras.layers
        conv = keras.Sequential([keras.Input(shape=(10, 1)), layers.Conv1D(2, 3), layers.Flatten(), layers.Dense(1)])
        conv.save(OUTPUT / f"{writer}_conv1d.h5")
        two = keras.Sequential([keras.Input(shape=(10,)), layers.Dense(4, activation="relu"),
                                layers.Dense(2, activation="softmax")])
        two.save(OUTPUT / f"{writer}_two_outputs.h5")


if __name__ == "__main__":
    sys.exit(main())
