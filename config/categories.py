"""Categories of the analysis: each a role and a list of cuts, all required, over the analysis columns.

The role is ``signal`` (a signal region) or ``control`` (a control region), kept as an order
tag: on real data every signal region is blind until its config unblinds it by name
(``unblind`` of ``config.analysis.build_config``), so a new signal region is blind by default.
Cuts are ROOT-style strings over the columns ``analysis.physics.selection`` defines (``met``,
``n_jet``, ``mt``, ...), so that they go directly into RDataFrame; Histograms applies each
cut as soon as the columns it needs exist, so cheap cuts drop events before costly columns.
"""

from analysis.errors import TmetError

SIGNAL = "signal"
CONTROL = "control"
ROLES = (SIGNAL, CONTROL)

CATEGORIES = {
    "sr_0l": (SIGNAL, ["met > 250", "n_lep_veto == 0", "n_jet >= 3", "n_bjet >= 1", "min_dphi > 0.4", "top_tagged"]),
    "sr_1l": (SIGNAL, ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet >= 1", "mt > 160"]),
    "cr_tt_1l": (CONTROL, ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet >= 1",
                           "mt < 160"]),
    "cr_w_1l": (CONTROL, ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet == 0",
                          "mt < 160"]),
}


def add_categories(config):
    """A category per CATEGORIES entry, tagged with its role, its ``selection`` the list of its
    cuts (order keeps a list as it is): the one place the cuts are stored."""
    for category_id, (name, entry) in enumerate(CATEGORIES.items(), start=1):
        if not (isinstance(entry, tuple) and len(entry) == 2 and entry[0] in ROLES and isinstance(entry[1], list)):
            raise TmetError(f"category '{name}' in config/categories.py: give its role and its cuts, "
                            f"e.g. \"{name}\": (\"signal\", [\"met > 250\", ...]) (roles: {', '.join(ROLES)}; "
                            f"a signal region is blind on real data until its config unblinds it)")
        role, cuts = entry
        config.add_category(name=name, id=category_id, selection=list(cuts), tags={role})


def blinded_categories(config, unblind):
    """The signal categories of ``config`` that stay blind: all but those named in ``unblind``;
    a name there that is not a signal category is an error naming it."""
    signal = [c.name for c in config.categories if c.has_tag(SIGNAL)]
    unknown = [name for name in unblind if name not in signal]
    if unknown:
        raise TmetError(f"config '{config.name}' unblinds {', '.join(unknown)}, which is not a signal category "
                        f"of config/categories.py (its signal categories: {', '.join(signal) or 'none'})")
    return [name for name in signal if name not in unblind]
