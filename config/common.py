"""Shifts, categories and variables of ANALYSIS.md, shared by every config of ``tmet``.

Selections and expressions are ROOT-style strings over the analysis columns that
``analysis.selection`` defines (``met``, ``n_jet``, ``mt``, ...), so that they go
directly into RDataFrame ``Filter``/``Define`` calls.
"""

import order as od

# shift sources: (name, kind); kind "object" re-runs the selection on varied objects,
# "weight" reweights the nominal selection (both are datacard shape nuisances)
SHAPE_SOURCES = [
    ("jes", "object"),
    ("jer", "object"),
    ("met_uncl", "object"),
    ("pu", "weight"),
    ("btag", "weight"),
    ("lep", "weight"),
    ("toptag", "weight"),
    ("mur", "weight"),
    ("muf", "weight"),
    ("isr", "weight"),
    ("fsr", "weight"),
]

# name: cuts, all required (the selection is their "&&"; Histograms applies each cut as
# soon as the columns it needs exist, so cheap cuts drop events before costly columns)
CATEGORIES = {
    "sr_0l": ["met > 250", "n_lep_veto == 0", "n_jet >= 3", "n_bjet >= 1", "min_dphi > 0.4", "top_tagged"],
    "sr_1l": ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet >= 1", "mt > 160"],
    "cr_tt_1l": ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet >= 1", "mt < 160"],
    "cr_w_1l": ["met > 250", "n_lep_tight == 1", "n_lep_veto == 1", "n_jet >= 2", "n_bjet == 0", "mt < 160"],
}

# name: (expression, (n_bins, low, high), x title, unit)
VARIABLES = {
    "met": ("met", (15, 250.0, 1000.0), r"$p_{T}^{miss}$", "GeV"),
    "mt": ("mt", (20, 0.0, 500.0), r"$m_{T}$", "GeV"),
    "n_jet": ("n_jet", (8, 1.5, 9.5), "Number of jets", "1"),
    "n_bjet": ("n_bjet", (4, -0.5, 3.5), "Number of b jets", "1"),
    "ht": ("ht", (20, 0.0, 2000.0), r"$H_{T}$", "GeV"),
    "min_dphi": ("min_dphi", (16, 0.0, 3.2), r"min $\Delta\phi$(jet, $p_{T}^{miss}$)", "1"),
    "top_score": ("top_score", (20, 0.0, 1.0), "Best top candidate score", "1"),
    "top_pt": ("top_pt", (20, 0.0, 1000.0), r"Best top candidate $p_{T}$", "GeV"),
}


def add_shifts(config):
    """``nominal``, ``<source>_up/_down`` for every shape source, and the rate-only ones.

    Shape shifts are tagged ``object`` or ``weight``; rate shifts (lnN only) carry no
    histograms and are tagged ``rate``. ``xsec_<process>`` exists per top-level process.
    """
    config.add_shift(name="nominal", id=0)
    shift_id = 1
    for source, kind in SHAPE_SOURCES:
        for direction in ("up", "down"):
            config.add_shift(name=f"{source}_{direction}", id=shift_id, type=od.Shift.SHAPE, tags={kind})
            shift_id += 1
    rate_sources = ["lumi"] + [f"xsec_{p.name}" for p in config.x.mc_processes]
    for source in rate_sources:
        for direction in ("up", "down"):
            config.add_shift(name=f"{source}_{direction}", id=shift_id, type=od.Shift.RATE, tags={"rate"})
            shift_id += 1


def add_categories(config):
    for category_id, (name, cuts) in enumerate(CATEGORIES.items(), start=1):
        config.add_category(name=name, id=category_id, selection=" && ".join(cuts), aux={"cuts": cuts})


def add_variables(config):
    for variable_id, (name, (expression, binning, title, unit)) in enumerate(VARIABLES.items(), start=1):
        config.add_variable(
            name=name, id=variable_id, expression=expression, binning=binning, x_title=title, unit=unit,
        )


def shape_shifts(config, kind=None):
    """Names of the shape shifts (optionally only ``object`` or ``weight`` ones), without nominal."""
    return [
        shift.name for shift in config.shifts
        if shift.type == od.Shift.SHAPE and not shift.is_nominal and (kind is None or shift.has_tag(kind))
    ]


def shift_sources(config, kind=None):
    """Shape shift sources (``jes``, ``pu``, ...), in config order."""
    return list(dict.fromkeys(od.Shift.split_name(name)[0] for name in shape_shifts(config, kind)))
