"""Config ``run2_2018``: real Run 2 UL 2018 NanoAODv9, read over XRootD."""

from config import campaigns
from config.analysis import build_config


def create_config():
    # real data: every signal region stays blind until the analysis is approved to look at it;
    # then name it here, e.g. unblind=["sr_1l"]
    return build_config("run2_2018", campaigns.ul2018(), unblind=[])
