"""The main job (`law run Datacard` on the default config) reproduces the reference numbers
of tests/data/reference/: every histogram bin within 1e-9 relative, every entry count (the
events of a category) exactly (tests/data/README.md says how the reference was made), so
that a change of the engine or of the layout that should not change the physics does not."""

import os

import numpy as np

from scripts.histogram_reference import load_reference, read_histograms
from tests.conftest import REPO, law_env, law_run

REFERENCE = os.path.join(REPO, "tests", "data", "reference", "main_job_histograms.npz")


def test_main_job_histograms_equal_the_reference(tmp_path):
    env = law_env(tmp_path)
    code, output = law_run(env, "Datacard", "--workers", "2", version="ref")
    assert code == 0, output[-3000:]
    hists = read_histograms(str(tmp_path / "store" / "Histograms" / "run2_2018_synth"), "ref")
    reference = load_reference(REFERENCE)
    assert sorted(hists) == sorted(reference)
    for name, (contents, variances, entries) in reference.items():
        got_contents, got_variances, got_entries = hists[name]
        assert got_entries == entries, name
        np.testing.assert_allclose(got_contents, contents, rtol=1e-9, atol=0, err_msg=name)
        np.testing.assert_allclose(got_variances, variances, rtol=1e-9, atol=0, err_msg=name)
