"""Config ``run3_2022``: real Run 3 2022 NanoAODv12 (tt and data until more 13.6 TeV cross
sections are entered in ``config/processes.py``)."""

from config import campaigns
from config.analysis import build_config


def create_config():
    # real data: every signal region stays blind until the analysis is approved to look at it;
    # then name it here, e.g. unblind=["sr_1l"]
    return build_config("run3_2022", campaigns.run3_2022(), unblind=[])
