"""Synthetic NanoAOD of a synthetic dataset, written by the C++ of ``cpp/generator.cxx``.

MC files hold ``events_per_file`` events of their process's model; data files are a
mixture of the background models, each with Poisson(lumi * xsec * filter_efficiency /
n_files) events, so data agrees with the MC prediction in expectation.
"""

import numpy as np

from analysis import root_setup
from analysis.errors import TmetError

MODEL_FIELDS = (
    "filter_efficiency", "neg_weight_fraction", "gen_weight", "met_min", "met_slope", "met_resolution",
    "lepton_pt_slope", "lepton_met_dphi", "fake_lepton_rate", "light_jets_mean", "jet_pt_slope",
    "jet_recoil_width", "top_candidates_mean", "true_top_fraction",
)
MULTIPLICITY_FIELDS = ("lepton_multiplicity", "b_multiplicity")
# every file starts a new block of event numbers so that (run, lumi, event) stay unique
EVENTS_PER_FILE_BLOCK = 100_000_000


def make_model(ROOT, settings, where):
    """A ``tmet::gen::GenModel`` from generator settings; bad values name ``where`` and the field."""
    model = ROOT.tmet.gen.GenModel()
    for field in MODEL_FIELDS:
        try:
            setattr(model, field, float(settings[field]))
        except (KeyError, TypeError, ValueError) as e:
            raise TmetError(f"{where}: generator setting '{field}' missing or not a number") from e
    for field in MULTIPLICITY_FIELDS:
        values = settings.get(field)
        if not isinstance(values, list) or len(values) != 3 or min(values) < 0 or sum(values) <= 0:
            raise TmetError(f"{where}: generator setting '{field}' must be three non-negative probabilities")
        for i, value in enumerate(values):
            getattr(model, field)[i] = float(value)
    if not 0 < model.filter_efficiency <= 1:
        raise TmetError(f"{where}: generator setting 'filter_efficiency' must be in (0, 1]")
    return model


def data_mixture(config, dataset_name, mc_datasets, n_files):
    """Expected events per file of each background dataset in the data mixture."""
    lumi = config.x.luminosity.nominal
    ecm = config.campaign.ecm
    expected = []
    for dataset in mc_datasets:
        settings = dataset.x.generator
        xsec = dataset.processes.get_first().get_xsec(ecm).nominal
        expected.append((dataset, lumi * xsec * settings["filter_efficiency"] / n_files))
    if not expected:
        raise TmetError(f"dataset '{dataset_name}': no synthetic MC background datasets to mix into data")
    return expected


def generate_file(path, config, dataset, file_index, n_events=None, mc_backgrounds=()):
    """Write file ``file_index`` of the synthetic ``dataset`` to ``path``; returns (events, sumw).

    ``n_events`` overrides ``events_per_file`` (MC) for benchmark-sized samples; data
    needs ``mc_backgrounds``, the datasets it mixes.
    """
    ROOT = root_setup.compile("generator.cxx")
    settings = dataset.x.generator
    where = f"dataset '{dataset.name}'"
    campaign = ROOT.tmet.gen.GenCampaign()
    values = config.x.generator_campaign
    campaign.pileup_mean = float(values["pileup_mc"]["mean"])
    campaign.pileup_sigma = float(values["pileup_mc"]["sigma"])
    campaign.run_min, campaign.run_max = (int(r) for r in values["data_runs"])
    campaign.btag_wp = float(config.x.objects["btag"]["value"])
    seed = int(settings["seed"]) * 1_000_003 + file_index

    models = ROOT.std.vector["tmet::gen::GenModel"]()
    counts = ROOT.std.vector["Long64_t"]()
    if dataset.is_data:
        rng = np.random.default_rng(seed)
        mixture = data_mixture(config, dataset.name, mc_backgrounds, int(settings["files"]))
        # a requested size rescales the mixture, keeping its proportions
        scale = 1.0 if n_events is None else n_events / sum(e for _, e in mixture)
        for background, expected in mixture:
            models.push_back(make_model(ROOT, background.x.generator, f"dataset '{background.name}'"))
            counts.push_back(int(rng.poisson(expected * scale)))
    else:
        models.push_back(make_model(ROOT, settings, where))
        counts.push_back(int(settings["events_per_file"] if n_events is None else n_events))

    result = ROOT.tmet.gen.write_file(
        str(path), models, counts, dataset.is_data, seed, (file_index + 1) * EVENTS_PER_FILE_BLOCK,
        campaign, int(settings["compression"]), int(settings["auto_flush"]),
    )
    return result.n_events, result.sumw
