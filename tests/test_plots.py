"""analysis.stats.plots: uncertainty band arithmetic checked against hand computations, and the
plots written as real PNG/PDF files (decoded, colors of the stack found in the image)."""

import math
import os

import matplotlib.image
import numpy as np
import pytest

from analysis.stats import plots

EDGES = np.array([250.0, 300.0, 400.0, 600.0, 1000.0])
TT = (205, 0, 9)  # the tt color of config/processes.py, RGB in 0..255
BACKGROUNDS = [
    ("ttV", (153, 51, 204), np.array([2.0, 1.5, 1.0, 0.2])),
    ("wjets", "tab:green", np.array([30.0, 20.0, 6.0, 1.0])),
    ("tt", TT, np.array([120.0, 80.0, 25.0, 3.0])),
]
SIGNALS = [("ps m=500 GeV", (0, 0, 0), np.array([10.0, 9.0, 6.0, 2.0])),
           ("ps m=1000 GeV", (0, 0, 0), np.array([2.0, 2.5, 3.0, 2.0]))]
TOTAL = sum(values for _, _, values in BACKGROUNDS)
BAND = (0.05 * TOTAL, 0.08 * TOTAL)
DATA = np.array([160.0, 95.0, 35.0, 0.0])  # an empty bin too


def check_outputs(path):
    """Both files exist and are not trivially small; the PNG decodes with the figure's pixel size."""
    for ext in (".png", ".pdf"):
        assert os.path.getsize(path + ext) > 1024, ext
    image = matplotlib.image.imread(path + ".png")
    width, height = plots.FIGSIZE
    assert image.shape == (height * plots.DPI, width * plots.DPI, 4)
    return image


def has_color(image, rgb, tolerance=0.02):
    """Whether some pixel of the image has this 0..255 RGB color."""
    target = np.array(rgb) / 255.0
    return bool(np.any(np.all(np.abs(image[..., :3] - target) < tolerance, axis=-1)))


def test_total_uncertainty_by_hand():
    # one shape source at +10% / -5%, stat variances 100 and 25, lnN 2.5% on the total
    nominal = np.array([100.0, 50.0])
    down, up = plots.total_uncertainty(
        nominal, np.array([100.0, 25.0]), {"jes": (nominal * 1.10, nominal * 0.95)}, [(0.025, 0.025, nominal)],
    )
    # bin 1: up sqrt(10^2 + 10^2 + 2.5^2), down sqrt(10^2 + 5^2 + 2.5^2); bin 2: half of each term
    np.testing.assert_allclose(up, [math.sqrt(206.25), math.sqrt(51.5625)])
    np.testing.assert_allclose(down, [math.sqrt(131.25), math.sqrt(32.8125)])


def test_total_uncertainty_same_direction_and_asymmetric_lnn():
    nominal = np.array([100.0, 100.0])
    # bin 1: both variations above the nominal; bin 2: both below
    shifts = {"jer": (np.array([110.0, 97.0]), np.array([104.0, 92.0]))}
    down, up = plots.total_uncertainty(nominal, np.zeros(2), shifts, [])
    np.testing.assert_allclose(up, [10.0, 0.0])
    np.testing.assert_allclose(down, [0.0, 8.0])
    # an asymmetric lnN on one process only (40 of the 100 events): +10% / -5% of 40
    down, up = plots.total_uncertainty(nominal, np.zeros(2), {}, [(0.10, 0.05, np.array([40.0, 0.0]))])
    np.testing.assert_allclose(up, [4.0, 0.0])
    np.testing.assert_allclose(down, [2.0, 0.0])


def test_to_color():
    assert plots.to_color((255, 153, 0)) == pytest.approx((1.0, 0.6, 0.0))
    assert plots.to_color((0, 0, 0)) == (0, 0, 0)
    assert plots.to_color((0.2, 0.4, 0.6)) == (0.2, 0.4, 0.6)
    assert plots.to_color("tab:green") == "tab:green"


@pytest.mark.parametrize("log", [False, True])
def test_plot_stack(tmp_path, log):
    import matplotlib.pyplot as plt

    path = str(tmp_path / "sub" / "stack")
    total = plots.plot_stack(path, EDGES, BACKGROUNDS, SIGNALS, DATA, BAND, r"$p_{T}^{miss}$", "SR, 0 lepton",
                             59.8, unit="GeV", log=log)
    np.testing.assert_allclose(total, [152.0, 101.5, 32.0, 4.2])
    image = check_outputs(path)
    # the tt fill (given in 0..255) and the purple ttV fill are drawn
    assert has_color(image, TT)
    assert has_color(image, (153, 51, 204))
    assert plt.get_fignums() == []


def test_plot_stack_blinded(tmp_path):
    path = str(tmp_path / "blind")
    total = plots.plot_stack(path, EDGES, BACKGROUNDS, SIGNALS, None, BAND, "MT2", "SR, 1 lepton", 59.8, unit="GeV")
    np.testing.assert_allclose(total, TOTAL)
    assert has_color(check_outputs(path), TT)


def test_plot_shift(tmp_path):
    import matplotlib.pyplot as plt

    path = str(tmp_path / "shift")
    plots.plot_shift(path, EDGES, TOTAL, TOTAL * 1.08, TOTAL * 0.95, "jes", r"$p_{T}^{miss}$", "SR, 0 lepton", 59.8)
    image = check_outputs(path)
    assert has_color(image, (214, 39, 40), tolerance=0.03)  # tab:red, the up variation
    assert plt.get_fignums() == []
