"""Config ``run2_2018_synth`` (default): the 2018 analysis on synthetic NanoAOD.

Same physics values as ``run2_2018``; inputs come from ``GenerateSample`` with the
generator settings of ``run2_2018_synth_datasets.yaml`` and the corrections are the
synthetic campaign's own JSON files (``scripts/make_synth_corrections.py``).
"""

import os

import order as od
from scinum import Number

from config import run2_2018

HERE = os.path.dirname(os.path.abspath(__file__))
CORRECTIONS = os.path.join(os.path.dirname(HERE), "data", "corrections", "run2_2018_synth")


def create_config(analysis):
    campaign = od.Campaign("run2_2018_synth", 1, ecm=13, bx=25)
    config = analysis.add_config(campaign, name="run2_2018_synth", id=1)
    run2_2018.attach_processes(config)
    run2_2018.add_analysis_values(
        config,
        luminosity=Number(59830.0, {"lumi": 0.025j}),
        btag_wp=0.2783,
        met_filters=run2_2018.MET_FILTERS_2018,
        data_only_filters=["Flag_eeBadScFilter"],
        triggers=["HLT_PFMETNoMu120_PFMHTNoMu120_IDTight"],
        nano_version=9,
    )
    files = {
        pog: os.path.join(CORRECTIONS, f"{name}.json")
        for pog, name in [("LUM", "puWeights"), ("MUO", "muon_Z"), ("EGM", "electron"), ("BTV", "btagging"),
                          ("JME", "jet_jerc")]
    }
    config.x.corrections = run2_2018.corrections(
        files, jec_prefix="Summer19UL18_V5", jer_prefix="Summer19UL18_JRV2", jet_type="AK4PFchs", electron_year="2018",
    )
    return run2_2018.finish_config(config, os.path.join(HERE, "run2_2018_synth_datasets.yaml"))
