"""Keras models read without Keras (analysis.engine.model_code) and scored by their generated
C++ (analysis.top_tagger): every model file in tests/data/models, written by real Keras 3
(torch and TensorFlow backends) and tf.keras 2 (scripts/make_test_models.py), gives Keras's
own predictions; the C++ gives what a plain numpy evaluation of the same weights gives;
what tmet cannot follow is an error naming the file and the layer."""

import ctypes
import glob
import hashlib
import json
import math
import os
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from analysis import top_tagger
from analysis.engine import build, model_code
from analysis.errors import TmetError
from tests.conftest import REPO

MODELS = os.path.join(REPO, "tests", "data", "models")
EXPECTED = sorted(os.path.basename(p)[:-len(".expected.json")] for p in glob.glob(f"{MODELS}/*.expected.json"))
FEATURES = ["trijet_pt", "trijet_mass", "dijet_mass", "b_btag", "j1_btag", "j2_btag",
            "dr_j1j2", "dr_b_dijet", "b_pt_frac", "j1_pt_frac"]


def expected(name):
    with open(os.path.join(MODELS, f"{name}.expected.json")) as f:
        return json.load(f)


def load(name):
    """The TopTagger of a committed model and its scaler, and Keras's record of it."""
    record = expected(name)
    scaler = os.path.join(MODELS, record["scaler"]) if record["scaler"] else None
    return top_tagger.load_model(os.path.join(MODELS, record["model"]), scaler), record


def test_every_writer_is_committed():
    writers = {(expected(n)["keras_version"].split(".")[0], expected(n)["backend"].split()[0]) for n in EXPECTED}
    assert writers == {("2", "tensorflow"), ("3", "torch"), ("3", "tensorflow")}


@pytest.mark.parametrize("name", EXPECTED)
def test_predict_gives_keras_predictions(name):
    tagger, record = load(name)
    assert tagger.model.keras_version == record["keras_version"]
    scores = tagger.predict(np.array(record["inputs"]))
    assert scores.dtype == np.float64 and scores.shape == (len(record["inputs"]),)
    assert np.max(np.abs(scores - record["predictions"])) < 1e-5


def test_every_activation_is_checked_against_keras():
    """Each activation tmet writes appears in a committed file of each Keras that names it."""
    seen = {2: set(), 3: set()}
    for name in EXPECTED:
        model = load(name)[0].model
        seen[int(model.keras_version[0])].update(layer.activation for layer in model.layers
                                                 if not isinstance(layer, model_code.BatchNormalization))
    for major, names in model_code.ACTIVATIONS.items():
        assert seen[major] == set(names.values()), major
    assert set(model_code.ELEMENTWISE) | set(model_code.OVER_UNITS) == seen[2] | seen[3]


# ---------------------------------------------------------------------------------------
# the C++ against numpy


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# the activations' definitions, written here from Keras's documentation
REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x: np.where(x < 0, 0.2 * x, x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554804934 * np.where(x > 0, x, 1.6732632423543772848 * np.expm1(x)),
    "celu": lambda x: np.maximum(x, 0.0) + np.minimum(0.0, np.expm1(x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "squareplus": lambda x: (x + np.sqrt(x ** 2 + 4.0)) / 2.0,
    "sigmoid": _sigmoid,
    "log_sigmoid": lambda x: -np.logaddexp(0.0, -x),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "sparse_sigmoid": lambda x: np.clip((x + 1.0) / 2.0, 0.0, 1.0),
    "silu": lambda x: x * _sigmoid(x),
    "hard_silu": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "gelu": lambda x: x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))) / 2.0,
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "tanh": np.tanh,
    "tanh_shrink": lambda x: x - np.tanh(x),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "soft_shrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0.0),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "sparse_plus": lambda x: np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0)),
    "exponential": np.exp,
    "softmax": _softmax,
    "log_softmax": lambda x: np.log(_softmax(x)),
}


def numpy_scores(model, x):
    """The model's scores of ``x``, layer by layer in numpy."""
    if model.scale is not None:
        x = (x - model.center) / model.scale
    for layer in model.layers:
        if isinstance(layer, model_code.Dense):
            x = REFERENCE[layer.activation](x @ layer.kernel + layer.bias)
        elif isinstance(layer, model_code.BatchNormalization):
            x = (x - layer.mean) / np.sqrt(layer.variance + layer.epsilon) * layer.gamma + layer.beta
        else:
            x = REFERENCE[layer.activation](x)
    return x[:, 0]


@pytest.mark.parametrize("name", EXPECTED)
def test_predict_equals_numpy(name):
    tagger, record = load(name)
    inputs = np.array(record["inputs"])
    rng = np.random.default_rng(7)
    wide = inputs.mean(axis=0) + rng.normal(0.0, 2.0, (500, tagger.n_inputs)) * inputs.std(axis=0)
    x = np.concatenate([inputs, wide])
    assert np.max(np.abs(tagger.predict(x) - numpy_scores(tagger.model, x))) < 1e-12


def test_weights_are_written_exactly():
    tagger, _ = load("keras3_torch_tagger")
    source = model_code.model_source(tagger.model, "score")
    arrays = dict(re.findall(r"static constexpr double (\w+)\[\d+\] = \{([^}]*)\}", source))
    dense = tagger.model.layers[0]
    with h5py.File(tagger.path) as f:
        kernel = f["model_weights/dense/sequential/dense/kernel"][()]
    assert kernel.dtype == np.float32 and np.array_equal(dense.kernel, kernel)
    assert [float(v) for v in arrays["w1"].split(",")] == dense.kernel.ravel().tolist()
    assert [float(v) for v in arrays["center"].split(",")] == tagger.model.center.tolist()


def test_predict_runs_the_generated_code(tmp_path):
    """predict's library is built from model_source's text; pasted twice (two models, two
    names) into another source, built and loaded as the event loop's are, it gives the same
    scores bit for bit, and the text compiles alone with the flags of tmet's libraries."""
    tagger, record = load("keras3_torch_tagger")
    other, _ = load("keras2_functional")
    assert model_code.model_source(tagger.model, top_tagger.SCORE) in tagger.source
    assert tagger.library_path() == build.library_path(top_tagger.STEM, tagger.source, ())
    x = np.array(record["inputs"])
    scores = tagger.predict(x)
    assert os.path.exists(tagger.library_path())

    includes = "".join(f"#include <{h}>\n" for h in model_code.HEADERS)
    source = "\n".join([includes, "namespace outer {", model_code.model_source(tagger.model, "first"), "}",
                        model_code.model_source(other.model, "second"),
                        'extern "C" void both(const double* x, int n, double* out) {',
                        "    for (int i = 0; i < n; ++i) {",
                        "        out[2 * i] = outer::first(x + 10 * i); out[2 * i + 1] = second(x + 10 * i); }", "}"])

    library = build.load(build.build("test_two_models", source, (), precompiled=False))
    out = np.empty(2 * len(x))
    pointer = ctypes.POINTER(ctypes.c_double)
    library.both(np.ascontiguousarray(x).ctypes.data_as(pointer), ctypes.c_int(len(x)), out.ctypes.data_as(pointer))
    assert np.array_equal(out[0::2], scores)
    assert np.array_equal(out[1::2], other.predict(x))

    path = tmp_path / "alone.cxx"
    path.write_text(source)
    compiled = subprocess.run([build.COMPILER, "-O2", "-std=c++17", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
                               "-c", str(path), "-o", str(tmp_path / "alone.o")], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr


def test_model_description():
    tagger, _ = load("keras2_tagger")
    model = tagger.model
    with open(model.path, "rb") as f, open(model.scaler_path, "rb") as g:
        assert tagger.digest == hashlib.sha256(f.read() + g.read()).hexdigest()
    assert tagger.features == tuple(FEATURES) and tagger.n_inputs == 10 and tagger.path == model.path
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "BatchNormalization", "Dense",
                                                                "Activation", "Dense"]
    batch_norm = model.layers[1]
    assert not np.allclose(batch_norm.mean, 0.0) and not np.allclose(batch_norm.variance, 1.0)  # trained
    with pytest.raises(AttributeError):
        model.n_inputs = 3
    with pytest.raises(ValueError):
        batch_norm.mean[0] = 1.0
    raw = top_tagger.load_model(model.path)
    assert raw.features is None and raw.digest != tagger.digest and raw.scaler_path is None
    assert tagger.predict(np.zeros((0, 10))).shape == (0,)


# ---------------------------------------------------------------------------------------
# errors


def test_unsupported_layer_names_file_and_layer():
    path = os.path.join(MODELS, "keras3_torch_conv1d.h5")
    with pytest.raises(TmetError, match=r"keras3_torch_conv1d.h5: layer 'conv1d' \(Conv1D\) is not supported"):
        top_tagger.load_model(path)


def test_more_than_one_output_is_an_error():
    with pytest.raises(TmetError, match="keras3_torch_two_outputs.h5: the model ends in 2 units"):
        top_tagger.load_model(os.path.join(MODELS, "keras3_torch_two_outputs.h5"))


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(TmetError, match="cannot read the Keras model .*missing.h5"):
        top_tagger.load_model(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("not a model\n")
    with pytest.raises(TmetError, match="text.h5 is not an HDF5 file"):
        top_tagger.load_model(text)
    archive = tmp_path / "model.keras"
    shutil.make_archive(str(tmp_path / "model"), "zip", MODELS, "keras2_tagger_scaler.json")
    os.rename(tmp_path / "model.zip", archive)
    with pytest.raises(TmetError, match="model.keras is a zip file"):
        top_tagger.load_model(archive)
    weights_only = tmp_path / "weights.h5"
    with h5py.File(weights_only, "w") as f:
        f.create_dataset("dense/kernel", data=np.ones((10, 1)))
    with pytest.raises(TmetError, match="weights.h5 is an HDF5 file without a Keras model"):
        top_tagger.load_model(weights_only)
    model = os.path.join(MODELS, "keras3_torch_tagger.h5")
    with pytest.raises(TmetError, match="cannot read the scaler .*missing.json"):
        top_tagger.load_model(model, tmp_path / "missing.json")


def edited(tmp_path, name, config=None, weights=None, attrs=None):
    """A copy of a committed model with its model_config (``config(dict)``), its model_weights
    group (``weights(group)``) or root attributes (``attrs``) changed."""
    path = tmp_path / f"edited_{name}.h5"
    shutil.copy(os.path.join(MODELS, f"{name}.h5"), path)
    with h5py.File(path, "r+") as f:
        if config:
            content = json.loads(f.attrs["model_config"])
            config(content)
            f.attrs["model_config"] = json.dumps(content)
        if weights:
            weights(f["model_weights"])
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return path


def layer(content, name):
    (found,) = [layer for layer in content["config"]["layers"] if layer["config"]["name"] == name]
    return found


def test_widths_that_do_not_chain(tmp_path):
    def wider_kernel(group):
        name = "dense_1/sequential/dense_1/kernel"
        del group[name]
        group.create_dataset(name, data=np.ones((15, 8), dtype=np.float32))

    path = edited(tmp_path, "keras3_torch_tagger", weights=wider_kernel)
    with pytest.raises(TmetError, match=r"edited_keras3_torch_tagger.h5: layer 'dense_1' \(Dense\) has a kernel of "
                                        r"shape \(15, 8\), but its input has 16 units"):
        top_tagger.load_model(path)

    def input_of_nine(content):
        layer(content, "input_1")["config"]["batch_input_shape"] = [None, 9]

    path = edited(tmp_path, "keras2_tagger", config=input_of_nine)
    with pytest.raises(TmetError, match=r"layer 'dense' \(Dense\) has a kernel of shape \(10, 16\), but its input "
                                        r"has 9 units"):
        top_tagger.load_model(path)


def test_scaler_must_fit_the_model(tmp_path):
    model = os.path.join(MODELS, "keras3_torch_tagger.h5")
    scaler = json.load(open(os.path.join(MODELS, "keras3_torch_tagger_scaler.json")))
    short = tmp_path / "short.json"
    short.write_text(json.dumps({key: values[:9] for key, values in scaler.items()}))
    with pytest.raises(TmetError, match="scaler .*short.json: 'features' has 9 entries, but the model takes 10"):
        top_tagger.load_model(model, short)
    zero = tmp_path / "zero.json"
    zero.write_text(json.dumps({**scaler, "scale": [0.0] + scaler["scale"][1:]}))
    with pytest.raises(TmetError, match="scaler .*zero.json: the scale of trijet_pt is 0"):
        top_tagger.load_model(model, zero)
    broken = tmp_path / "broken.json"
    broken.write_text('{"features": ')
    with pytest.raises(TmetError, match="scaler .*broken.json is not a JSON object"):
        top_tagger.load_model(model, broken)


def test_predict_checks_the_width():
    tagger, _ = load("keras3_torch_tagger")
    with pytest.raises(TmetError, match=r"keras3_torch_tagger.h5 takes rows of 10 features \(trijet_pt, .*\): "
                                        r"predict got an array of shape \(4, 9\)"):
        tagger.predict(np.zeros((4, 9)))
    with pytest.raises(TmetError, match=r"shape \(10,\)"):
        tagger.predict(np.zeros(10))


def test_features_must_be_the_configs():
    tagger, _ = load("keras3_torch_tagger")
    tagger.check_features(FEATURES)
    renamed = ["m_top" if f == "trijet_mass" else f for f in FEATURES]
    with pytest.raises(TmetError, match="scaler .*keras3_torch_tagger_scaler.json: the model's feature 'trijet_mass' "
                                        "is not one the config defines"):
        tagger.check_features(renamed)
    with pytest.raises(TmetError, match="the orders must be the same"):
        tagger.check_features(FEATURES[::-1])
    with pytest.raises(TmetError, match="the orders must be the same"):
        tagger.check_features(FEATURES + ["n_jets"])
    raw = top_tagger.load_model(tagger.path)
    raw.check_features(renamed)
    with pytest.raises(TmetError, match="takes 10 features, but the config defines 9"):
        raw.check_features(FEATURES[:9])


@pytest.mark.parametrize("name, layer_name, activation, message", [
    ("keras3_torch_activations_rectifiers", "dense_6", "sparsemax", "'dense_6' (Dense) has the activation \"sparsemax\""),
    ("keras3_torch_activations_rectifiers", "activation_2", "threshold", "'activation_2' (Activation) has the "
                                                                         "activation \"threshold\""),
    ("keras2_activations_rectifiers", "dense_6", "celu", "'dense_6' (Dense) has the activation \"celu\", which tmet "
                                                         "does not write as C++; it reads Keras 2's"),
])
def test_unsupported_activation_names_file_layer_and_activation(tmp_path, name, layer_name, activation, message):
    def change(content):
        layer(content, layer_name)["config"]["activation"] = activation

    with pytest.raises(TmetError, match=re.escape(f"edited_{name}.h5: layer {message}")):
        top_tagger.load_model(edited(tmp_path, name, config=change))


def test_what_else_cannot_be_followed(tmp_path):
    with pytest.raises(TmetError, match="written by Keras '1.2.2': tmet reads files of Keras 2"):
        top_tagger.load_model(edited(tmp_path, "keras2_tagger", attrs={"keras_version": "1.2.2"}))

    def other_axis(content):
        layer(content, "batch_normalization")["config"]["axis"] = [0]

    with pytest.raises(TmetError, match=r"'batch_normalization' \(BatchNormalization\) normalises the axis \[0\]"):
        top_tagger.load_model(edited(tmp_path, "keras2_tagger", config=other_axis))

    def branch(content):
        layer(content, "dense_5")["inbound_nodes"][0].append(["dense_3", 0, 0, {}])

    with pytest.raises(TmetError, match=r"layer 'dense_5' \(Dense\) is called with 2 inputs in 1 calls"):
        top_tagger.load_model(edited(tmp_path, "keras2_functional", config=branch))

    def lora(group):
        group["dense_2/sequential/dense_2"].create_dataset("lora_kernel_a", data=np.ones((8, 2), dtype=np.float32))
        group["dense_2"].attrs["weight_names"] = ["sequential/dense_2/kernel", "sequential/dense_2/bias",
                                                  "sequential/dense_2/lora_kernel_a"]

    with pytest.raises(TmetError, match=r"'dense_2' \(Dense\) has the weights \['bias', 'kernel', 'lora_kernel_a'\]"):
        top_tagger.load_model(edited(tmp_path, "keras3_torch_tagger", weights=lora))


def test_other_ways_keras_writes_the_same_model(tmp_path):
    """An activation serialised as Keras's function object, and the Keras 2 layout of a
    Sequential config as a bare list of layers without an InputLayer (the first layer has
    the input shape), read as the plain file does."""
    tagger, record = load("keras2_tagger")
    scaler = tagger.scaler_path

    def as_objects(content):
        for item in content["config"]["layers"]:
            if "activation" in item["config"]:
                item["config"]["activation"] = {"module": "keras.activations", "class_name": "function",
                                                "config": item["config"]["activation"], "registered_name": "function"}
        layers = content["config"]["layers"]
        layers[1]["config"]["batch_input_shape"] = layers[0]["config"]["batch_input_shape"]
        content["config"] = layers[1:]

    other = top_tagger.load_model(edited(tmp_path, "keras2_tagger", config=as_objects), scaler)
    x = np.array(record["inputs"])
    assert np.array_equal(other.predict(x), tagger.predict(x))

    def custom(content):
        layer(content, "dense_1")["config"]["activation"] = {"module": "my_activations", "class_name": "function",
                                                             "config": "tanh", "registered_name": "function"}

    with pytest.raises(TmetError, match=re.escape("layer 'dense_1' (Dense) has the activation {\"module\": "
                                                  "\"my_activations\"")):
        top_tagger.load_model(edited(tmp_path, "keras2_tagger", config=custom))


def test_a_damaged_config(tmp_path):
    def no_units(content):
        del layer(content, "dense_1")["config"]["units"]

    with pytest.raises(TmetError, match="edited_keras2_tagger.h5: cannot read its model_config and weights "
                                        "\\(KeyError: 'units'\\)"):
        top_tagger.load_model(edited(tmp_path, "keras2_tagger", config=no_units))
