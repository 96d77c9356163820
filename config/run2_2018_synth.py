"""Config ``run2_2018_synth`` (default): the 2018 analysis on synthetic NanoAOD.

2018's values with the synthetic campaign's correction files; inputs come from
``GenerateSample`` with the generator settings of ``run2_2018_synth_datasets.yaml``.
"""

from config import campaigns
from config.analysis import build_config


def create_config():
    # generated data: nothing to blind
    return build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False)
