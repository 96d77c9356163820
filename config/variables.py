"""Variables of the analysis: histogram binning of each (under- and overflow are folded into
the edge bins), and the datacards' fit variable.

A category that cuts the fit variable below its lower edge would put the events between
the cut and the edge into the first bin: refused (analysis.physics.checks.check_fit_range)
unless the variable is one of UNDERFLOW_IN_FIRST_BIN, whose first bin is meant to hold
them (e.g. a "below 300 GeV" bin)."""

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
FIT_VARIABLE = "met"
UNDERFLOW_IN_FIRST_BIN = ()
# the tag of those variables
UNDERFLOW_TAG = "underflow_in_first_bin"


def add_variables(config):
    for variable_id, (name, (expression, binning, title, unit)) in enumerate(VARIABLES.items(), start=1):
        config.add_variable(
            name=name, id=variable_id, expression=expression, binning=binning, x_title=title, unit=unit,
            tags={UNDERFLOW_TAG} if name in UNDERFLOW_IN_FIRST_BIN else set(),
        )
    config.x.fit_variable = FIT_VARIABLE
