"""Templates, cards and yields from per-dataset histogram files, without law; a weight shift
added in a test config reaches the card as a shape nuisance."""

import math

import numpy as np
import pytest

from analysis.physics.btag import count_jets, efficiencies, write_efficiency_json
from analysis.stats.datacard import datacards, lnn_entries
from analysis.stats.figures import as_arrays, background_band
from analysis.physics.histograms import make_histograms, write_histograms
from analysis.physics.skim import skim_files, sum_of_weights
from analysis.stats.templates import BIN_FLOOR, templates_of
from analysis.stats.yields import yields_table
from config import campaigns
from config.analysis import build_config
from config.shifts import add_weight_shift, shape_shifts, shape_source_names, template_name

DATASETS = ("tt_sl", "tdm_ps_m500", "data_met")


@pytest.fixture(scope="module")
def test_config():
    """The synthetic config with one more weight shift: +-3 % on events with an odd event number."""
    config = build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)
    add_weight_shift(config, "oddeven", "w_oddeven", "1.0", "event % 2 == 1 ? 1.03 : 1.0",
                     "event % 2 == 1 ? 0.97 : 1.0")
    return config


@pytest.fixture(scope="module")
def histogram_files(test_config, nanoaod, tmp_path_factory):
    """{dataset: {shift: file}} of the test config's shifts, made with the real graph."""
    out = tmp_path_factory.mktemp("hists")
    files = {}
    for name in DATASETS:
        dataset = test_config.get_dataset(name)
        skim = str(out / f"{name}_skim.root")
        skim_files([nanoaod(name)], skim, test_config, dataset.is_data)
        shifts = [test_config.get_shift("nominal")] + ([] if dataset.is_data else shape_shifts(test_config))
        btag, sumw = None, None
        if not dataset.is_data:
            btag = str(out / f"{name}_btag.json")
            write_efficiency_json(btag, test_config, efficiencies(count_jets([skim], test_config)), "test")
            sumw = sum_of_weights([skim])
        hists = make_histograms([skim], test_config, dataset.is_data, btag, shifts, threads=1)
        files[name] = {}
        for shift, shift_hists in hists.items():
            files[name][shift] = str(out / f"{name}__{shift}.root")
            write_histograms(files[name][shift], shift_hists, sumw)
    return files


def test_added_weight_shift_reaches_the_card(test_config, histogram_files):
    templates = templates_of(test_config, histogram_files, ["met"])["met"]
    assert templates.backgrounds == ["tt"] and templates.signals == ["tdm_ps_m500"] and templates.data == ["data"]
    cards = datacards(test_config, templates, "test")
    assert sorted({card.card_set for card in cards}) == ["tdm_ps_m500"]
    combined = next(card for card in cards if card.channel == "combined")
    shape_lines = [line.split()[0] for line in combined.text.splitlines() if " shape " in line]
    assert shape_lines[-1] == "oddeven" and "jes" in shape_lines
    hists = combined.templates["sr_1l"]
    nominal, up, down = (hists[name].Integral() for name in ("tt", "tt_oddevenUp", "tt_oddevenDown"))
    assert nominal < up < 1.03 * nominal and 0.97 * nominal < down < nominal
    assert up - nominal == pytest.approx(nominal - down, rel=1e-9)
    table, _ = yields_table(test_config, templates)
    assert table["sr_1l"]["tt"].u("oddeven")[0] == pytest.approx(up - nominal, rel=1e-9)


def test_floored_bins_are_reported(test_config, histogram_files):
    templates = templates_of(test_config, histogram_files, ["met"])["met"]
    assert templates.floored, "a 4000-event sample leaves some high-MET bin empty"
    for entry in templates.floored:
        hist = templates.hists[entry.category][template_name(entry.process, test_config.get_shift(entry.shift))]
        for b in entry.bins:
            assert hist.GetBinContent(b) == BIN_FLOOR
    contents = np.array([templates.hists["sr_0l"]["data_obs"].GetBinContent(i) for i in range(1, 16)])
    assert np.all(contents >= 0)


def test_lnn_entries_and_plot_band(test_config, histogram_files):
    tt = test_config.get_process("tt").get_xsec(13)
    xsec_up = math.sqrt(sum(u[0] ** 2 for u in tt.uncertainties.values())) / tt.nominal
    xsec_down = math.sqrt(sum(u[1] ** 2 for u in tt.uncertainties.values())) / tt.nominal
    entries = lnn_entries(test_config, ["tdm_ps_m500", "tt"])
    assert entries["lumi"] == {"tdm_ps_m500": "1.0250", "tt": "1.0250"}
    assert entries["xsec_tt"] == {"tt": f"{1 - xsec_down:.4f}/{1 + xsec_up:.4f}"}
    assert list(entries) == ["lumi", "xsec_tdm_ps_m500", "xsec_tt"]

    templates = templates_of(test_config, histogram_files, ["met"])["met"]
    _, values, variances = as_arrays(templates.hists["sr_1l"])
    down, up = background_band(test_config, values, variances, ["tt"])
    # by hand: MC statistics, the larger deviation towards each side per shape source, lumi and xsec_tt
    up2, down2 = variances["tt"].copy(), variances["tt"].copy()
    for source in shape_source_names(test_config):
        d = np.array([values[f"tt_{source}Up"] - values["tt"], values[f"tt_{source}Down"] - values["tt"]])
        up2 += np.maximum(d.max(axis=0), 0) ** 2
        down2 += np.maximum(-d.min(axis=0), 0) ** 2
    up2 += (0.025 * values["tt"]) ** 2 + (xsec_up * values["tt"]) ** 2
    down2 += (0.025 * values["tt"]) ** 2 + (xsec_down * values["tt"]) ** 2
    np.testing.assert_allclose(up, np.sqrt(up2), rtol=1e-9)
    np.testing.assert_allclose(down, np.sqrt(down2), rtol=1e-9)


def test_without_data_every_result_says_asimov(test_config, histogram_files, tmp_path, monkeypatch):
    """A config without data: data_obs is the background sum and says so (cards, yield table,
    plots), and no limit is called observed."""
    import os

    import yaml

    from analysis.stats.datacard import card_file_name, shapes_file_name, write_shapes
    from analysis.stats.figures import draw_figures
    from analysis.stats.limits import config_limits
    from analysis.stats.yields import yields_json, yields_markdown
    from tests.conftest import REPO

    files = {name: shifts for name, shifts in histogram_files.items() if name != "data_met"}
    templates = templates_of(test_config, files, ["met", "n_jet"])
    met = templates["met"]
    assert met.data == [] and {met.observation(test_config, c) for c in test_config.categories.names()} == {"asimov"}
    cards = datacards(test_config, met, "test")
    combined = next(card for card in cards if card.channel == "combined")
    assert ("# observation Asimov (the background sum), not data: sr_0l (no data), sr_1l (no data), cr_tt_1l (no "
            "data), cr_w_1l (no data)") in combined.text
    for category, hists in combined.templates.items():
        assert hists["data_obs"].Integral() == pytest.approx(hists["tt"].Integral(), rel=1e-12)
    table, observations = yields_table(test_config, met)
    assert "data_obs" not in table["sr_1l"] and "| data_obs | asimov | asimov | asimov | asimov |" in yields_markdown(
        table, observations)
    assert yields_json(table, observations)["sr_1l"]["data_obs"] == {"nominal": None, "observation": "asimov"}
    _, totals = draw_figures(test_config, templates, [test_config.get_variable("n_jet")], str(tmp_path))
    assert totals["data"] == {c: {"n_jet": None} for c in test_config.categories.names()}
    # the limits of the config's own cards: expected only
    directory = tmp_path / "tdm_ps_m500"
    directory.mkdir()
    write_shapes(str(directory / shapes_file_name("combined")), combined.templates)
    (directory / card_file_name("combined")).write_text(combined.text)
    content = yaml.safe_load(open(os.path.join(REPO, "config", "run2_2018_synth_datasets.yaml")))
    content["datasets"] = {name: content["datasets"][name] for name in ("tt_sl", "tdm_ps_m500")}
    (tmp_path / "no_data.yaml").write_text(yaml.safe_dump(content))
    monkeypatch.setenv("TMET_DATASETS_RUN2_2018_SYNTH", str(tmp_path / "no_data.yaml"))
    no_data = build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)
    limits = config_limits(no_data, {"tdm_ps_m500": str(directory / card_file_name("combined"))})["tdm_ps_m500"]
    assert limits["observed"] is None and limits["expected"] > 0
