"""Categories of the analysis: each a list of cuts, all required, over the analysis columns.

Cuts are ROOT-style strings over the columns ``analysis.physics.selection`` defines (``met``,
``n_jet``, ``mt``, ...), so that they go directly into RDataFrame; Histograms applies each
cut as soon as the columns it needs exist, so cheap cuts drop events before costly columns.
"""

CATEGORIES = {
    "sr_0l": ["met > 250", "n_lep_veto == 0", "n_jet >= 3", "n_bjet >= 1", "min_dphi > 0.4", "top_tagged"],
    "sr_1l": ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet >= 1", "mt > 160"],
    "cr_tt_1l": ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet >= 1", "mt < 160"],
    "cr_w_1l": ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet == 0", "mt < 160"],
}


def add_categories(config):
    """A category per CATEGORIES entry, its ``selection`` the list of its cuts (order keeps a
    list as it is): the one place the cuts are stored."""
    for category_id, (name, cuts) in enumerate(CATEGORIES.items(), start=1):
        config.add_category(name=name, id=category_id, selection=list(cuts))
