"""The MC event weight and its weight shifts as RDataFrame graph steps.

weight = w_norm * w_gen * (the factors the weight shifts vary: w_pu, w_btag, w_lep, w_toptag,
w_theory), with w_norm = lumi * xsec / sumw and w_gen = genWeight; every factor is a column
(Snapshot writes them all). A weight shift (``config.shifts``) replaces its factor by its up
or down expression, either fixed (Snapshot) or as one more entry of the ``weight_shifts``
column (Histograms: one pass for all shifts).
"""

from analysis.errors import TmetError
from config.processes import process_xsec
from config.shifts import WEIGHT, weight_sources

FIXED_FACTORS = ("w_norm", "w_gen")


def normalization(config, dataset, sumw):
    """lumi * xsec * filter efficiency / sumw of an MC dataset (sumw over all its input files,
    before any skim; the generator filter efficiency goes with the cross section)."""
    xsec = process_xsec(dataset.processes.get_first(), config.campaign.ecm)
    if xsec is None:
        raise TmetError(f"dataset '{dataset.name}': its process has no cross section at "
                        f"{config.campaign.ecm} TeV in config/processes.py")
    if sumw == 0:  # inputs without any event: nothing to normalise
        return 0.0
    return config.x.luminosity.nominal * xsec.nominal * dataset.x.filter_efficiency / sumw


def normalisation_values(config, dataset):
    """What ``normalization`` takes from the config: luminosity, cross section, filter efficiency."""
    return [config.x.luminosity, process_xsec(dataset.processes.get_first(), config.campaign.ecm),
            dataset.x.filter_efficiency]


def weight_factors(config):
    """The factors of the weight, in the order of the product: the fixed ones, then the
    factor of every weight shift source (shared factors once)."""
    return list(FIXED_FACTORS) + list(dict.fromkeys(source.x.factor for source in weight_sources(config)))


def define_weights(df, config, is_data, norm=1.0, btag_efficiency=None, shift=None):
    """Weight factors and the total ``weight`` (1 for data).

    Needs the columns of ``selection.define_selection``. ``btag_efficiency`` is the
    efficiency JSON of the MC dataset. A fixed weight ``shift`` (Snapshot) puts its up or
    down expression into the factor it varies.
    """
    factors = weight_factors(config)
    if is_data:
        for factor in factors:
            df = df.Define(factor, "1.0")
        return df.Define("weight", "1.0")
    if not btag_efficiency:
        raise TmetError("the MC weight needs the dataset's b-tag efficiencies (BTagEfficiency output)")

    df = (df.Define("jet_btag_efficiency", "tmet::btag_efficiencies(jet_pt, Jet_eta, Jet_hadronFlavour, jet_tagged, "
                                           "jet_sel)")
          .Define("w_norm", f"{norm!r}").Define("w_gen", "double(genWeight)"))
    fixed = shift if shift is not None and shift.has_tag(WEIGHT) else None
    for factor in factors[len(FIXED_FACTORS):]:
        if fixed is not None and fixed.x.factor == factor:
            df = df.Define(factor, fixed.x.expressions[fixed.direction])
        else:
            df = df.Define(factor, _nominal_expression(config, factor))
    return df.Define("weight", _product(factors))


def define_weight_shifts(df, config, shifts):
    """Column ``weight_shifts``: the weight with one source's factor at its up or down value,
    for every weight shift of ``shifts``; returns the dataframe and those shifts, in the
    order of the column's entries.

    Needs ``define_weights``. Weight shifts keep the nominal selection, so all of them are
    one column of the nominal events (filled along a shift axis by ``histograms``).
    """
    factors = weight_factors(config)
    chosen = [shift for shift in shifts if shift.has_tag(WEIGHT)]
    terms = [_product(factors, shift.x.factor, shift.x.expressions[shift.direction]) for shift in chosen]
    return df.Define("weight_shifts", "ROOT::RVecD{" + ", ".join(terms) + "}"), chosen


def _nominal_expression(config, factor):
    return next(s.x.expressions["nominal"] for s in weight_sources(config) if s.x.factor == factor)


def _product(factors, replaced=None, value=None):
    """The weight formula, with the factor ``replaced`` set to ``value``."""
    return " * ".join(f"({value})" if factor == replaced else factor for factor in factors)
