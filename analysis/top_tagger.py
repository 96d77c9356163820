"""The analysis group's top tagger: a Keras model that scores top-quark candidate triplets.

``load_model(h5, scaler)`` reads the model file and its scaler without Keras or TensorFlow
(``analysis.engine.model_code``). The event loop pastes ``model_source`` of the model
into its generated C++ and calls it per candidate; ``TopTagger.predict`` runs the same
generated C++, compiled alone into a small library with a loop over rows, so that the
scores of a notebook, a test or a training check are the event loop's to the last bit.
``check_features`` holds the model's inputs to the features the config defines, in order.
"""

import ctypes
import functools

import numpy as np

from analysis.engine import build, model_code
from analysis.errors import TmetError

STEM = "tmet_model"
# the function of the model in the library of ``predict`` (model_code.model_source's name)
SCORE = "tmet_model_score"


def predict_source(model):
    """C++ of the library behind ``predict``: the model's function and ``extern "C"
    tmet_model_predict(x, n, out)``, the scores of n rows of ``model.n_inputs`` doubles."""
    includes = "".join(f"#include <{header}>\n" for header in (*model_code.HEADERS, "cstdint"))
    return "\n".join([
        includes, model_code.model_source(model, SCORE),
        'extern "C" void tmet_model_predict(const double* x, std::int64_t n, double* out) {',
        f"    for (std::int64_t i = 0; i < n; ++i) out[i] = {SCORE}(x + i * {model.n_inputs});",
        "}", ""])


class TopTagger:
    """A Keras model read for tmet (``model``: its ``model_code.Model``): ``predict`` scores
    rows of features; ``path``, ``features`` (the scaler's names, or None), ``n_inputs`` and
    ``digest`` (sha256 of the model and scaler files) describe it."""

    def __init__(self, model):
        self.model = model
        self.source = predict_source(model)

    path = property(lambda self: self.model.path)
    scaler_path = property(lambda self: self.model.scaler_path)
    features = property(lambda self: self.model.features)
    n_inputs = property(lambda self: self.model.n_inputs)
    digest = property(lambda self: self.model.digest)

    def library_path(self):
        """The compiled library of ``source`` (built on first use, cached by content)."""
        return build.build(STEM, self.source, (), precompiled=False)

    @functools.cached_property
    def _predict(self):
        function = build.load(self.library_path()).tmet_model_predict
        function.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.c_int64, ctypes.POINTER(ctypes.c_double)]
        function.restype = None
        return function

    def predict(self, x):
        """The scores (float64 array of n) of ``x``, an (n, n_inputs) array of features in
        the model's order (the scaler's ``features``); another shape is a TmetError."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            names = f" ({', '.join(self.features)})" if self.features else ""
            raise TmetError(f"the model {self.path} takes rows of {self.n_inputs} features{names}: "
                            f"predict got an array of shape {x.shape}")
        out = np.empty(len(x))
        pointer = ctypes.POINTER(ctypes.c_double)
        self._predict(x.ctypes.data_as(pointer), len(x), out.ctypes.data_as(pointer))
        return out

    def check_features(self, names):
        """Check that the model takes the features ``names`` (those the config defines, in the
        order the event loop computes them): each of the scaler's features must be one of
        them, and the order the same. A model without a scaler has no names: only its width
        is checked. A mismatch is a TmetError naming the scaler file and the feature."""
        names = list(names)
        if self.features is None:
            if len(names) != self.n_inputs:
                raise TmetError(f"the model {self.path} takes {self.n_inputs} features, but the config defines "
                                f"{len(names)} ({', '.join(names)}); give the model's scaler to name them")
            return
        for feature in self.features:
            if feature not in names:
                raise TmetError(f"scaler {self.scaler_path}: the model's feature '{feature}' is not one the config "
                                f"defines ({', '.join(names)}): define it in the config or use a model trained on "
                                f"these features")
        if list(self.features) != names:
            raise TmetError(f"scaler {self.scaler_path}: the model takes the features in the order "
                            f"{', '.join(self.features)}, but the config defines {', '.join(names)}: "
                            f"the orders must be the same")


def load_model(h5_path, scaler_path=None):
    """The ``TopTagger`` of a Keras ``.h5`` file (tf.keras 2 or Keras 3) and its optional scaler
    JSON; what tmet cannot read is a TmetError naming the file (``model_code.read_model``)."""
    return TopTagger(model_code.read_model(h5_path, scaler_path))
