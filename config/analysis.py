"""The ``tmet`` analysis and its configs; ``get_config`` is the one way to look one up."""

import order as od

from analysis.errors import unknown_name_error
from config import run2_2018, run2_2018_synth, run3_2022

DEFAULT_CONFIG = "run2_2018_synth"

analysis = od.Analysis("tmet", 1)
for _module in (run2_2018_synth, run2_2018, run3_2022):
    _module.create_config(analysis)


def get_config(name=DEFAULT_CONFIG):
    """The config ``name``; an unknown name lists the valid ones."""
    if not analysis.has_config(name):
        raise unknown_name_error("config", name, analysis.configs.names())
    return analysis.get_config(name)
