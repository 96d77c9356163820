"""Keras models as C++: the analysis group's top tagger evaluated inside the event loop.

The tagger scores every candidate triplet of every event, tens of millions of calls in a
loop; calling TensorFlow or torch from there (or from Python) per candidate is out of the
question, and neither is a dependency of tmet. A small dense network is a few matrix
products, so the model file is read here with h5py and written as one C++ function with
its weights as static arrays, compiled with the rest of a graph's source (or alone, for
``analysis.top_tagger``'s ``predict``), so that both run the same code.

Read: the HDF5 file that ``model.save("x.h5")`` writes, by tf.keras 2 and by Keras 3 (any
backend): the root attribute ``model_config`` (JSON), ``keras_version`` and ``backend``,
and the group ``model_weights`` with one group per layer, whose attribute ``weight_names``
lists its datasets relative to that group (Keras 3: ``<model>/<layer>/<var>``, Keras 2:
``<layer>/<var>:0``). Sequential models and functional models that are a straight chain
from one input to one output, of InputLayer, Dense, Activation, Dropout (nothing at
inference) and BatchNormalization (inference: the moving mean and variance) over the
last axis, ending in one unit: the score. An optional scaler JSON, ``{"features": [...],
"center": [...], "scale": [...]}``, gives the features' names and the ``(x - center) /
scale`` applied before the network. Anything else is a TmetError naming the file and,
where it is one, the layer.

Activations follow the Keras that wrote the file (its ``keras_version``): Keras 2 and 3
differ (``hard_sigmoid``) and name different sets. Keras stores an activation by its name
only, never its arguments (a ``functools.partial`` cannot be saved; ``keras.ops.gelu``,
whose default is the tanh approximation, is saved as "gelu" and reloaded by Keras as the
exact one), so an activation here is the function of that name with its default
arguments, as Keras computes it on loading the file. Keras 3's ``threshold`` (it has no
defaults: Keras itself cannot evaluate it in a layer), ``glu`` and ``sparsemax`` are not
read.

The C++ computes in double (float32 weights are exact doubles; written with Python's
``repr`` of the double, nothing is rounded), with the scaler and every layer in order.
"""

import dataclasses
import hashlib
import io
import json
import math
import os
import re

import numpy as np

from analysis.errors import TmetError

# the headers the C++ of ``model_source`` needs, to be included before it
HEADERS = ("algorithm", "cmath")
SUPPORTED_LAYERS = ("InputLayer", "Dense", "Activation", "Dropout", "BatchNormalization")

# elementwise activations: C++ of one unit's value ``v`` (a const double), by definition
_SOFTPLUS = "(v > 0.0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)))"
ELEMENTWISE = {
    "linear": "v",
    "relu": "(v > 0.0 ? v : 0.0)",
    "relu6": "std::min(std::max(v, 0.0), 6.0)",
    "leaky_relu": "(v >= 0.0 ? v : 0.2 * v)",
    "elu": "(v > 0.0 ? v : std::expm1(v))",
    "selu": "1.0507009873554805 * (v > 0.0 ? v : 1.6732632423543772 * std::expm1(v))",
    "celu": "(v >= 0.0 ? v : std::expm1(v))",
    "softplus": _SOFTPLUS,
    "softsign": "v / (1.0 + std::fabs(v))",
    "squareplus": "0.5 * (v + std::sqrt(v * v + 4.0))",
    "sigmoid": "1.0 / (1.0 + std::exp(-v))",
    "log_sigmoid": "(v < 0.0 ? v - std::log1p(std::exp(v)) : -std::log1p(std::exp(-v)))",
    "hard_sigmoid": "std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0",  # Keras 3: relu6(x + 3) / 6
    "hard_sigmoid_keras2": "std::min(std::max(0.2 * v + 0.5, 0.0), 1.0)",  # Keras 2: clip(0.2 x + 0.5, 0, 1)
    "sparse_sigmoid": "(v <= -1.0 ? 0.0 : v >= 1.0 ? 1.0 : 0.5 * (v + 1.0))",
    "silu": "v / (1.0 + std::exp(-v))",
    "hard_silu": "v * (std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0)",
    "gelu": "0.5 * v * (1.0 + std::erf(v * 0.7071067811865476))",
    "mish": f"v * std::tanh({_SOFTPLUS})",
    "tanh": "std::tanh(v)",
    "tanh_shrink": "v - std::tanh(v)",
    "hard_tanh": "std::min(std::max(v, -1.0), 1.0)",
    "soft_shrink": "(v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0.0)",
    "hard_shrink": "(std::fabs(v) > 0.5 ? v : 0.0)",
    "sparse_plus": "(v <= -1.0 ? 0.0 : v >= 1.0 ? v : 0.25 * (v + 1.0) * (v + 1.0))",
    "exponential": "std::exp(v)",
}
# activations over a layer's units
OVER_UNITS = ("softmax", "log_softmax")

# the names each Keras gives its activations, to their definitions above
KERAS3_ACTIVATIONS = {name: name for name in ELEMENTWISE if name != "hard_sigmoid_keras2"}
KERAS3_ACTIVATIONS.update({"swish": "silu", "hard_swish": "hard_silu", "softmax": "softmax",
                           "log_softmax": "log_softmax"})
# tf_keras 2's keras.activations and the tf.nn functions it deserialises by name
KERAS2_ACTIVATIONS = {name: name for name in ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "softplus",
                                              "softsign", "sigmoid", "silu", "gelu", "mish", "tanh", "exponential",
                                              "softmax", "log_softmax")}
KERAS2_ACTIVATIONS.update({"swish": "silu", "hard_sigmoid": "hard_sigmoid_keras2"})
ACTIVATIONS = {2: KERAS2_ACTIVATIONS, 3: KERAS3_ACTIVATIONS}


def _frozen(array):
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class Dense:
    """``activation(x @ kernel + bias)``; kernel (inputs, units), bias zero without one."""
    name: str
    kernel: np.ndarray
    bias: np.ndarray
    activation: str  # a definition of ELEMENTWISE or OVER_UNITS


@dataclasses.dataclass(frozen=True, eq=False)
class BatchNormalization:
    """``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` (gamma 1, beta 0 where the layer
    has no scale or centre)."""
    name: str
    mean: np.ndarray
    variance: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    epsilon: float


@dataclasses.dataclass(frozen=True, eq=False)
class Activation:
    name: str
    activation: str


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A Keras model as tmet evaluates it: the scaler (or None), then ``layers`` (Dense,
    BatchNormalization and Activation, in order; Dropout and InputLayer do nothing), one
    score. ``digest``: sha256 of the model file's bytes and the scaler's, for provenance."""
    path: str
    scaler_path: str | None
    features: tuple | None
    center: np.ndarray | None
    scale: np.ndarray | None
    n_inputs: int
    layers: tuple
    keras_version: str
    backend: str
    digest: str


# ---------------------------------------------------------------------------------------
# reading


def _text(value):
    """An HDF5 string attribute (str or bytes) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_bytes(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TmetError(f"cannot read the {what} {path}: {e.strerror or e}") from e


def _open_h5(path, data):
    import h5py  # here: the engine's other users (every graph, every Dask worker) need no h5py

    if data[:2] == b"PK":
        raise TmetError(f"{path} is a zip file (Keras's .keras format?), not the HDF5 of model.save('x.h5'): "
                        f"save the model as .h5 for tmet")
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as e:
        raise TmetError(f"{path} is not an HDF5 file ({e}): give the .h5 that Keras's model.save('x.h5') writes") \
            from e


def _keras_major(path, version):
    match = re.match(r"(\d+)\.", version)
    major = int(match.group(1)) if match else None
    if major not in ACTIVATIONS:
        raise TmetError(f"{path} was written by Keras '{version}': tmet reads files of Keras 2 (tf.keras) and 3")
    return major


def _layer_list(path, config):
    """The layers of a model config in the order they compute: a Sequential's, or the straight
    chain of a functional model from its one input to its one output."""
    kind, body = config.get("class_name"), config.get("config")
    if kind == "Sequential":
        return body if isinstance(body, list) else body["layers"]
    if kind not in ("Functional", "Model"):
        raise TmetError(f"{path}: a model of class '{kind}'; tmet reads Sequential models and functional models "
                        f"that are a straight chain of layers")
    layers = body["layers"]
    by_name = {layer.get("name", layer["config"]["name"]): layer for layer in layers}
    ends = [_tensor_names(body[key]) for key in ("input_layers", "output_layers")]
    if len(ends[0]) != 1 or len(ends[1]) != 1:
        raise TmetError(f"{path}: a functional model of {len(ends[0])} inputs and {len(ends[1])} outputs; tmet reads "
                        f"a straight chain from one input to one score")
    chain, name = [], ends[1][0]
    while True:
        layer = by_name[name]
        if len(chain) == len(layers):
            raise TmetError(f"{path}: the layers of its model_config form a circle at '{name}': a damaged file?")
        chain.append(layer)
        if name == ends[0][0]:
            break
        nodes = layer.get("inbound_nodes") or []
        inbound = _tensor_names(nodes)
        if len(nodes) != 1 or len(inbound) != 1:
            raise TmetError(f"{path}: layer '{name}' ({layer['class_name']}) is called with {len(inbound)} inputs "
                            f"in {len(nodes)} calls; tmet reads functional models that are a straight chain")
        name = inbound[0]
    if len(chain) != len(layers):
        off = sorted(set(by_name) - {layer.get("name", layer["config"]["name"]) for layer in chain})
        raise TmetError(f"{path}: layers {', '.join(off)} are off the chain from the input to the output; tmet "
                        f"reads functional models that are a straight chain")
    return chain[::-1]


def _tensor_names(node):
    """The names of the layers whose outputs a part of a functional config refers to: Keras 2's
    ``[name, node, tensor(, kwargs)]`` lists and Keras 3's ``keras_history``."""
    if isinstance(node, dict):
        if "keras_history" in node:
            return [node["keras_history"][0]]
        return [name for value in node.values() for name in _tensor_names(value)]
    if isinstance(node, list):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int):
            return [node[0]]
        return [name for item in node for name in _tensor_names(item)]
    return []


def _activation(path, layer, major):
    """The definition of a layer's activation, as the Keras of ``major`` names it."""
    config, kind = layer["config"], layer["class_name"]
    identifier = config.get("activation")
    name = identifier
    if isinstance(identifier, dict) and identifier.get("class_name") == "function" \
            and str(identifier.get("module", "")).startswith(("keras", "tf_keras")):
        name = identifier.get("config")  # Keras's own function serialised as an object: its name
    if not isinstance(name, str) or name not in ACTIVATIONS[major]:
        raise TmetError(f"{path}: layer '{config['name']}' ({kind}) has the activation {json.dumps(identifier)}, "
                        f"which tmet does not write as C++; it reads Keras {major}'s "
                        f"{', '.join(sorted(ACTIVATIONS[major]))}")
    return ACTIVATIONS[major][name]


def _weights(path, root, layer):
    """{variable name: float64 array} of a layer's weights in the file."""
    name = layer["config"]["name"]
    if name not in root:
        return {}
    group = root[name]
    names = group.attrs.get("weight_names", [])
    out = {}
    for weight in [_text(n) for n in np.asarray(names).ravel()]:
        variable = weight.rsplit("/", 1)[-1].split(":")[0]
        if weight not in group or variable in out:
            raise TmetError(f"{path}: layer '{name}' lists the weight '{weight}', which is not in the file "
                            f"(or twice): a damaged file?")
        values = np.asarray(group[weight], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise TmetError(f"{path}: layer '{name}': weight '{weight}' is not finite (training diverged?)")
        out[variable] = values
    return out


def _expect(path, layer, weights, wanted):
    if set(weights) != set(wanted):
        raise TmetError(f"{path}: layer '{layer['config']['name']}' ({layer['class_name']}) has the weights "
                        f"{sorted(weights)}; tmet reads {sorted(wanted)} (a quantised or LoRA layer?)")


def _width_error(path, layer, what, width):
    return TmetError(f"{path}: layer '{layer['config']['name']}' ({layer['class_name']}) {what}, but its input has "
                     f"{width} units: the model's widths do not chain")


def _input_width(path, layer):
    config = layer["config"]
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if shape is None:
        return None
    if len(shape) != 2 or not isinstance(shape[1], int):
        raise TmetError(f"{path}: layer '{config['name']}' ({layer['class_name']}) takes inputs of shape "
                        f"{tuple(shape[1:])}; tmet's models take a flat vector of features")
    return shape[1]


def _read_layers(path, layers, root, major):
    """(input width, computing layers, output width) of the config's layers and the file's weights."""
    for layer in layers:
        if layer["class_name"] not in SUPPORTED_LAYERS:
            raise TmetError(f"{path}: layer '{layer['config'].get('name')}' ({layer['class_name']}) is not "
                            f"supported: tmet writes {', '.join(SUPPORTED_LAYERS)} as C++")
    n_inputs = width = None
    out = []
    for layer in layers:
        kind, config = layer["class_name"], layer["config"]
        weights = _weights(path, root, layer)
        shape = _input_width(path, layer)
        if shape is not None:
            if width is not None and shape != width:
                raise _width_error(path, layer, f"takes {shape} inputs", width)
            width = shape
        if n_inputs is None:
            n_inputs = width
        if kind == "Dense":
            _expect(path, layer, weights, ("kernel", "bias") if config.get("use_bias", True) else ("kernel",))
            kernel = weights["kernel"]
            if kernel.ndim != 2 or kernel.shape[1] != config["units"]:
                raise TmetError(f"{path}: layer '{config['name']}' (Dense) of {config['units']} units has a kernel "
                                f"of shape {kernel.shape}: a damaged file?")
            if width is not None and kernel.shape[0] != width:
                raise _width_error(path, layer, f"has a kernel of shape {kernel.shape}", width)
            bias = weights.get("bias", np.zeros(kernel.shape[1]))
            if bias.shape != (kernel.shape[1],):
                raise _width_error(path, layer, f"has a bias of shape {bias.shape}", kernel.shape[1])
            if n_inputs is None:
                n_inputs = kernel.shape[0]
            width = kernel.shape[1]
            out.append(Dense(config["name"], _frozen(kernel), _frozen(bias), _activation(path, layer, major)))
        elif kind == "BatchNormalization":
            axis = config.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
            if axis not in (-1, 1):
                raise TmetError(f"{path}: layer '{config['name']}' (BatchNormalization) normalises the axis "
                                f"{config.get('axis')}; tmet reads it over the last axis only")
            wanted = ["moving_mean", "moving_variance"] + ["gamma"] * bool(config.get("scale", True)) \
                + ["beta"] * bool(config.get("center", True))
            _expect(path, layer, weights, wanted)
            size = weights["moving_mean"].shape
            if any(v.shape != size for v in weights.values()) or len(size) != 1:
                raise TmetError(f"{path}: layer '{config['name']}' (BatchNormalization) has weights of shapes "
                                f"{[v.shape for v in weights.values()]}: a damaged file?")
            if width is not None and size[0] != width:
                raise _width_error(path, layer, f"normalises {size[0]} units", width)
            width = size[0]
            if n_inputs is None:
                n_inputs = width
            out.append(BatchNormalization(config["name"], _frozen(weights["moving_mean"]),
                                          _frozen(weights["moving_variance"]),
                                          _frozen(weights.get("gamma", np.ones(size))),
                                          _frozen(weights.get("beta", np.zeros(size))), float(config["epsilon"])))
        else:
            _expect(path, layer, weights, ())
            if kind == "Activation":
                out.append(Activation(config["name"], _activation(path, layer, major)))
    if n_inputs is None:
        raise TmetError(f"{path}: cannot tell the model's input width (no InputLayer, no Dense before its first "
                        f"layer with weights)")
    if width != 1:
        raise TmetError(f"{path}: the model ends in {width} units; tmet's models give one score (a Dense of one "
                        f"unit at the end)")
    return n_inputs, tuple(out)


def _read_scaler(scaler_path, n_inputs, data):
    """(features, center, scale) of a scaler JSON for a model of ``n_inputs`` inputs."""
    try:
        scaler = json.loads(data)
        features, center, scale = (scaler[key] for key in ("features", "center", "scale"))
    except (ValueError, TypeError, KeyError) as e:
        raise TmetError(f"scaler {scaler_path} is not a JSON object with the lists 'features', 'center' and "
                        f"'scale' ({type(e).__name__}: {e})") from e
    for key, values in (("features", features), ("center", center), ("scale", scale)):
        if not isinstance(values, list) or len(values) != n_inputs:
            raise TmetError(f"scaler {scaler_path}: '{key}' has {len(values) if isinstance(values, list) else 'no'} "
                            f"entries, but the model takes {n_inputs} inputs")
    if not all(isinstance(name, str) and name for name in features) or len(set(features)) != len(features):
        raise TmetError(f"scaler {scaler_path}: 'features' must be distinct names, not {features}")
    numbers = []
    for key, values in (("center", center), ("scale", scale)):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise TmetError(f"scaler {scaler_path}: '{key}' must be finite numbers, not {values}")
        numbers.append(_frozen(values))
    if np.any(numbers[1] == 0.0):
        zero = [name for name, s in zip(features, scale) if s == 0]
        raise TmetError(f"scaler {scaler_path}: the scale of {', '.join(zero)} is 0: (x - center) / scale is undefined")
    return tuple(features), numbers[0], numbers[1]


def read_model(h5_path, scaler_path=None):
    """The ``Model`` of a Keras ``.h5`` file and its optional scaler JSON (module docstring);
    anything tmet cannot follow is a TmetError naming the file (and the layer)."""
    h5_path = os.fspath(h5_path)
    data = _read_bytes(h5_path, "Keras model")
    with _open_h5(h5_path, data) as f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise TmetError(f"{h5_path} is an HDF5 file without a Keras model (no model_config or model_weights: "
                            f"weights only?): give the .h5 that model.save('x.h5') writes")
        version = _text(f.attrs.get("keras_version", f["model_weights"].attrs.get("keras_version", "")))
        backend = _text(f.attrs.get("backend", f["model_weights"].attrs.get("backend", "")))
        major = _keras_major(h5_path, version)
        try:
            config = json.loads(_text(f.attrs["model_config"]))
            n_inputs, computing = _read_layers(h5_path, _layer_list(h5_path, config), f["model_weights"], major)
        except (ValueError, TypeError, KeyError) as e:  # a config or weights not as Keras writes them
            raise TmetError(f"{h5_path}: cannot read its model_config and weights ({type(e).__name__}: {e}): "
                            f"a damaged file?") from e
    digest = hashlib.sha256(data)
    features = center = scale = None
    if scaler_path is not None:
        scaler_path = os.fspath(scaler_path)
        scaler_data = _read_bytes(scaler_path, "scaler")
        features, center, scale = _read_scaler(scaler_path, n_inputs, scaler_data)
        digest.update(scaler_data)
    return Model(h5_path, scaler_path, features, center, scale, n_inputs, computing, version, backend,
                 digest.hexdigest())


# ---------------------------------------------------------------------------------------
# writing


def _array(name, values):
    """A static constexpr array of doubles, each written exactly (repr of the double)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    rows = [", ".join(repr(float(v)) for v in values[i:i + 6]) for i in range(0, len(values), 6)]
    return f"    static constexpr double {name}[{len(values)}] = {{\n        " + ",\n        ".join(rows) + "};"


def _activation_lines(activation, a, n):
    """C++ applying ``activation`` to the ``n`` units of array ``a`` in place."""
    if activation in ELEMENTWISE:
        if activation == "linear":
            return []
        return [f"    for (int j = 0; j < {n}; ++j) {{ const double v = {a}[j]; {a}[j] = {ELEMENTWISE[activation]}; }}"]
    lines = ["    {", f"        double m = {a}[0];", f"        for (int j = 1; j < {n}; ++j) m = std::max(m, {a}[j]);",
             "        double s = 0.0;"]
    if activation == "softmax":
        return lines + [f"        for (int j = 0; j < {n}; ++j) {{ {a}[j] = std::exp({a}[j] - m); s += {a}[j]; }}",
                        f"        for (int j = 0; j < {n}; ++j) {a}[j] /= s;", "    }"]
    return lines + [f"        for (int j = 0; j < {n}; ++j) s += std::exp({a}[j] - m);",
                    "        const double l = m + std::log(s);",
                    f"        for (int j = 0; j < {n}; ++j) {a}[j] -= l;", "    }"]


def model_source(model, name):
    """C++ of ``inline double <name>(const double* x)``: the score of ``model`` for the
    ``model.n_inputs`` features at ``x`` (scaler, then layers), in double. Its weights are
    static arrays inside the function, so the text can be pasted at namespace scope of any
    source, several times with different names, after including ``HEADERS``. The function
    is in an anonymous namespace: the static variables of a function of external linkage
    are one object per process (GNU unique symbols), and two libraries with a function of
    the same name would share the weights of the first one loaded."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"'{name}' is not a C++ identifier")
    summary = " -> ".join(f"{type(layer).__name__} '{layer.name}'" for layer in model.layers)
    scaler = f" with the scaler {os.path.basename(model.scaler_path)}" if model.scaler_path else ""
    lines = [f"// the Keras model {os.path.basename(model.path)}{scaler} (sha256 {model.digest[:16]}; "
             f"Keras {model.keras_version}, {model.backend}), written by analysis/engine/model_code.py:",
             f"// {model.n_inputs} inputs -> {summary}",
             "namespace {", f"inline double {name}(const double* x) {{"]
    width = model.n_inputs
    lines.append(f"    double a0[{width}];")
    if model.center is None:
        lines.append(f"    for (int i = 0; i < {width}; ++i) a0[i] = x[i];")
    else:
        lines += [_array("center", model.center), _array("scale", model.scale),
                  f"    for (int i = 0; i < {width}; ++i) a0[i] = (x[i] - center[i]) / scale[i];"]
    a = "a0"
    for k, layer in enumerate(model.layers, start=1):
        if isinstance(layer, Dense):
            n_in, n_out = layer.kernel.shape
            lines += [f"    // Dense '{layer.name}': {n_in} -> {n_out}, {layer.activation}",
                      _array(f"w{k}", layer.kernel), _array(f"b{k}", layer.bias),
                      f"    double a{k}[{n_out}];",
                      f"    for (int j = 0; j < {n_out}; ++j) a{k}[j] = b{k}[j];",
                      f"    for (int i = 0; i < {n_in}; ++i) {{",
                      f"        const double v = {a}[i];",
                      f"        for (int j = 0; j < {n_out}; ++j) a{k}[j] += v * w{k}[i * {n_out} + j];",
                      "    }"]
            a, width = f"a{k}", n_out
            lines += _activation_lines(layer.activation, a, width)
        elif isinstance(layer, BatchNormalization):
            multiplier = layer.gamma / np.sqrt(layer.variance + layer.epsilon)
            lines += [f"    // BatchNormalization '{layer.name}' (epsilon {layer.epsilon!r}): x * m + c",
                      _array(f"m{k}", multiplier), _array(f"c{k}", layer.beta - layer.mean * multiplier),
                      f"    for (int j = 0; j < {width}; ++j) {a}[j] = {a}[j] * m{k}[j] + c{k}[j];"]
        else:
            lines += [f"    // Activation '{layer.name}': {layer.activation}",
                      *_activation_lines(layer.activation, a, width)]
    return "\n".join(lines + [f"    return {a}[0];", "}", "}  // namespace", ""])
