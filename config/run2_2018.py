"""Config ``run2_2018``: real Run 2 UL 2018 NanoAODv9, read over XRootD."""

from config import campaigns
from config.analysis import build_config


def create_config():
    # real data stays blind in the signal regions until the analysis is approved
    return build_config("run2_2018", campaigns.ul2018(), blinded_categories=["sr_0l", "sr_1l"])
