"""Config ``run3_2022``: real Run 3 2022 NanoAODv12 (tt and data until more 13.6 TeV cross
sections are entered in ``config/processes.py``)."""

from config import campaigns
from config.analysis import build_config


def create_config():
    # real data stays blind in the signal regions until the analysis is approved
    return build_config("run3_2022", campaigns.run3_2022(), blinded_categories=["sr_0l", "sr_1l"])
