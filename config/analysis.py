"""The ``tmet`` analysis and its configs; ``get_config`` is the one way to look one up.

A config is made the first time it is asked for (and then kept for the process), so a
broken datasets YAML breaks only its own config, and nothing is read at import time.
Every config is its campaign's values (``config.campaigns``) plus the analysis: processes,
object definitions, datasets (YAML), shifts, categories and variables.
"""

import functools
import importlib
import os

import order as od

from analysis.errors import unknown_name_error
from config import categories, processes, selection, shifts, variables
from config.campaigns import with_btag_working_point, with_settings
from config.datasets import add_datasets, read_yaml

DEFAULT_CONFIG = "run2_2018_synth"
# config name -> id; each is made by create_config() of the module config/<name>.py
CONFIG_IDS = {"run2_2018_synth": 1, "run2_2018": 2, "run3_2022": 3}
CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def tmet_analysis():
    return od.Analysis("tmet", 1)


def get_config(name=DEFAULT_CONFIG):
    """The config ``name``; an unknown name lists the valid ones."""
    if name not in CONFIG_IDS:
        raise unknown_name_error("config", name, CONFIG_IDS)
    return _built_config(name)


@functools.cache
def _built_config(name):
    config = importlib.import_module(f"config.{name}").create_config()
    # added once complete: a config that failed to build can be built again (e.g. a fixed YAML)
    tmet_analysis().add_config(config)
    return config


def build_config(name, campaign_values, real_data=True, unblind=()):
    """The config ``name`` of the campaign ``campaign_values``, with the datasets (and the
    campaign ``settings:``) of ``config/<name>_datasets.yaml``, or of the file
    $TMET_DATASETS_<NAME> (e.g. one's own file lists or a tiny synthetic sample).

    ``real_data``: its data are recorded by CMS, so every signal category (config.categories)
    stays blind but those named in ``unblind``: their data reach no card, plot, table, fit or
    limit. Synthetic data have nothing to hide. The analysis checks of a built config are
    analysis.physics.checks's."""
    datasets_file = os.environ.get(f"TMET_DATASETS_{name.upper()}",
                                   os.path.join(CONFIG_DIR, f"{name}_datasets.yaml"))
    content = read_yaml(datasets_file)
    values = with_settings(campaign_values, content.get("settings"), datasets_file)
    campaign = od.Campaign(values["name"], values["id"], ecm=values["ecm"], bx=25)
    config = od.Config(campaign, name=name, id=CONFIG_IDS[name])
    processes.attach_processes(config)
    config.x.luminosity = values["luminosity"]
    config.x.nano_version = values["nano_version"]
    config.x.met_filters = values["met_filters"]
    config.x.triggers = values["triggers"]
    config.x.lumi_mask = values["lumi_mask"]
    config.x.redirectors = values["redirectors"]
    config.x.branch_map = values["branch_map"]
    config.x.top_tagger = values["top_tagger"]
    config.x.top_candidates_compression = values["top_candidates_compression"]
    config.x.top_candidates_output = values["top_candidates_output"]
    config.x.corrections = with_btag_working_point(values["corrections"], values["btag_working_point"])
    selection.add_selection_values(config, values["btag_working_point"], values["btag_working_points"])
    # every working point's threshold (the synthetic samples' b tagging is modelled at the medium one)
    config.x.btag_working_points = dict(values["btag_working_points"])
    # "per_point": one card set per signal point; "all": every signal in one card
    config.x.datacard_signal_mode = "per_point"

    add_datasets(content, datasets_file, campaign, processes.process_index(config), values["nano_version"],
                 values["top_candidates_output"])
    for dataset in campaign.datasets:
        config.add_dataset(dataset)
    config.x.datasets_file = datasets_file
    # the synthetic campaign's generator-level values (pileup profile, data runs)
    config.x.generator_campaign = dict(content.get("campaign", {}))
    shifts.add_shifts(config)
    categories.add_categories(config)
    config.x.unblind = list(unblind)
    config.x.blinded_categories = categories.blinded_categories(config, unblind) if real_data else []
    variables.add_variables(config)
    return config
