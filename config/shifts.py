"""Systematic shifts: every source declared once, with what the code needs to make it.

A source ``s`` is two order shifts, ``s_up`` and ``s_down``, tagged with its kind and
carrying (in ``aux``, the same on both) what ``analysis/`` needs:

- ``object`` (shape): the selection runs on varied objects, so events migrate between
  categories. ``variations``: [(columns, C++ expression)], the expression giving the
  [up, down] values of one column, or [column][up, down] of several, from nominal columns
  (RDataFrame ``Vary``'s layouts).
- ``weight`` (shape): the nominal selection, reweighted. ``factor``: the weight factor
  (column) it varies; ``expressions``: its nominal, up and down C++ expressions;
  ``branches``: MC branches they read beyond the selection's, kept by the skim; ``sumw``
  (or None): for a generator-weight variation, {direction: (array, entry)}, the entry of a
  NanoAOD weight array whose sum over all generated events normalises that template instead
  of the nominal sum of weights, so that it keeps the dataset's inclusive rate.
- ``rate`` (lnN only, no histograms): ``lnn``: {process: (relative up, relative down)}.

Every source belongs to a group of nuisances (``group``, the same on both shifts): GROUPS
in their order (the datacards' ``group`` lines, the uncertainty breakdown of
LikelihoodScan, the impacts' groups); the MC-statistics parameters of the cards'
``autoMCStats`` are Combine's own group, MC_STATISTICS.

Expressions are over the columns of ``analysis.physics.selection`` (``jet_pt``, ``jet_sel``,
``top_tagged``, ...) and ``jet_btag_efficiency`` (the measured b-tag efficiency of each
selected untagged jet, made from the dataset's BTagEfficiency output); the kernels are in
``analysis/cpp/tmet.h``. Adding a weight shift is one ``add_weight_shift`` call below.

This module is also the only place that assembles or splits a shift name.
"""

import math

import order as od

from analysis.errors import TmetError, unknown_name_error
from config.processes import process_xsec

OBJECT = "object"
WEIGHT = "weight"
RATE = "rate"
DIRECTIONS = ("up", "down")
EXPERIMENTAL, THEORY, LUMINOSITY = "experimental", "theory", "luminosity"
GROUPS = (EXPERIMENTAL, THEORY, LUMINOSITY)
MC_STATISTICS = "autoMCStats"


def add_shifts(config):
    """``nominal`` and every source of the analysis; needs the config's objects, corrections,
    luminosity and processes."""
    config.add_shift(name="nominal", id=0)
    objects = config.x.objects
    met_jet_pt = objects["met"]["recompute_jet_pt"]
    add_object_shift(config, "jes", [
        (("jet_pt",), "tmet::scale_variations(jet_pt, jet_jes_unc)"),
        (("jet_mass",), "tmet::scale_variations(jet_mass, jet_jes_unc)"),
        (("met", "met_phi"), f"tmet::jes_met_variations(met, met_phi, Jet_pt, jet_met_jes_unc, Jet_phi, {met_jet_pt})"),
    ])
    add_object_shift(config, "jer", [
        (("jet_pt",), "tmet::factor_variations(Jet_pt, jet_jer_factors)"),
        (("jet_mass",), "tmet::factor_variations(Jet_mass, jet_jer_factors)"),
    ])
    add_object_shift(config, "met_uncl", [
        (("met", "met_phi"),
         "tmet::met_uncl_variations(met, met_phi, MET_MetUnclustEnUpDeltaX, MET_MetUnclustEnUpDeltaY)"),
    ])

    variations = [f"tmet::{v}" for v in ("NOMINAL", "UP", "DOWN")]
    add_weight_shift(config, "pu", "w_pu", *(f"tmet::pileup_weight(Pileup_nTrueInt, {v})" for v in variations),
                     branches=["Pileup_nTrueInt"])
    add_weight_shift(config, "btag", "w_btag", *(
        f"tmet::btag_weight(jet_pt, Jet_eta, Jet_hadronFlavour, jet_tagged, jet_sel, jet_btag_efficiency, {v})"
        for v in variations))
    add_weight_shift(config, "lep", "w_lep", *(
        f"tmet::lepton_weight(Muon_pt[mu_tight], Muon_eta[mu_tight], Electron_pt[el_tight], Electron_eta[el_tight], {v})"
        for v in variations))
    unc = objects["top"]["tag_uncertainty"]
    add_weight_shift(config, "toptag", "w_toptag", "1.0", f"top_tagged ? 1.0 + {unc} : 1.0",
                     f"top_tagged ? 1.0 - {unc} : 1.0")
    # LHEScaleWeight indices (9-entry NanoAOD convention; tmet::scale_weight maps 8-entry arrays):
    # each variation keeps the dataset's inclusive rate (normalised to its sum over all generated
    # events), so that it moves acceptance and shape while the inclusive cross section's scale
    # uncertainty stays in the xsec_<process> lnN (docs/physics.md); and PSWeight indices ([0]
    # ISR=2, [1] FSR=2, [2] ISR=0.5, [3] FSR=0.5), which the shower's unitarity keeps inclusive
    lhe = {"mur": (7, 1), "muf": (5, 3)}
    for source, (up, down) in lhe.items():
        add_weight_shift(config, source, "w_theory", "1.0", f"tmet::scale_weight(LHEScaleWeight, {up})",
                         f"tmet::scale_weight(LHEScaleWeight, {down})", branches=["nLHEScaleWeight", "LHEScaleWeight"],
                         sumw={"up": ("LHEScaleWeight", up), "down": ("LHEScaleWeight", down)}, group=THEORY)
    ps = {"isr": (0, 2), "fsr": (1, 3)}
    for source, (up, down) in ps.items():
        add_weight_shift(config, source, "w_theory", "1.0", f"tmet::ps_weight(PSWeight, {up})",
                         f"tmet::ps_weight(PSWeight, {down})", branches=["nPSWeight", "PSWeight"], group=THEORY)

    mc_processes = config.x.mc_processes
    lumi = relative_uncertainty(config.x.luminosity)
    add_rate_shift(config, "lumi", {process.name: lumi for process in mc_processes}, LUMINOSITY)
    for process in mc_processes:
        # a process without a cross section at this energy has no dataset (it could not be normalised)
        xsec = process_xsec(process, config.campaign.ecm)
        add_rate_shift(config, f"xsec_{process.name}", {process.name: relative_uncertainty(xsec)} if xsec else {},
                       THEORY)


def _add_pair(config, source, shift_type, kind, aux, group):
    if group not in GROUPS:
        raise TmetError(f"shift source '{source}' (config/shifts.py): group '{group}' is not one of {', '.join(GROUPS)}")
    for direction in DIRECTIONS:
        config.add_shift(name=od.Shift.join_name(source, direction), id=len(config.shifts), type=shift_type,
                         tags={kind}, aux={**aux, "group": group})


def add_object_shift(config, source, variations, group=EXPERIMENTAL):
    _add_pair(config, source, od.Shift.SHAPE, OBJECT, {"variations": [(tuple(c), e) for c, e in variations]}, group)


def add_weight_shift(config, source, factor, nominal, up, down, branches=(), sumw=None, group=EXPERIMENTAL):
    """A weight shift of ``factor``; sources that vary the same factor share its nominal value.
    ``sumw``: {direction: (weight array, entry)} that normalises its templates (module
    docstring); ``group``: one of GROUPS."""
    for other in weight_sources(config):
        if other.x.factor == factor and other.x.expressions["nominal"] != nominal:
            raise TmetError(f"weight shift '{source}': factor '{factor}' has nominal '{nominal}', but shift "
                            f"'{other.source}' gives it '{other.x.expressions['nominal']}'")
    _add_pair(config, source, od.Shift.SHAPE, WEIGHT, {
        "factor": factor, "expressions": {"nominal": nominal, "up": up, "down": down}, "branches": list(branches),
        "sumw": dict(sumw) if sumw else None,
    }, group)


def add_rate_shift(config, source, lnn, group):
    _add_pair(config, source, od.Shift.RATE, RATE, {"lnn": dict(lnn)}, group)


def groups(config):
    """{group: [source names]} of every group of GROUPS with a source, in that order."""
    members = {group: [] for group in GROUPS}
    for shift in config.shifts:
        if shift.is_up:
            members[shift.x.group].append(shift.source)
    return {group: names for group, names in members.items() if names}


def relative_uncertainty(number):
    """(up, down) relative uncertainty of a scinum Number, its uncertainties added in quadrature."""
    if number.nominal == 0:
        return 0.0, 0.0
    up = math.sqrt(sum(u[0] ** 2 for u in number.uncertainties.values())) / number.nominal
    down = math.sqrt(sum(u[1] ** 2 for u in number.uncertainties.values())) / number.nominal
    return up, down


def get_shift(config, name):
    """The shift ``name`` of ``config``; an unknown name lists the valid ones."""
    if not config.has_shift(name):
        raise unknown_name_error("shift", name, config.shifts.names())
    return config.get_shift(name)


def shape_shifts(config, kind=None):
    """The shape shifts (optionally of one kind), without nominal, in declaration order."""
    return [shift for shift in config.shifts
            if shift.type == od.Shift.SHAPE and not shift.is_nominal and (kind is None or shift.has_tag(kind))]


def sources(config, kind=None):
    """The up shift of every source of ``kind`` (default: the shape ones), in declaration order:
    the source's name is its ``source``, what it needs is in its ``x``."""
    kinds = [kind] if kind else [OBJECT, WEIGHT]
    return [shift for shift in config.shifts if shift.is_up and any(shift.has_tag(k) for k in kinds)]


def weight_sources(config):
    return sources(config, WEIGHT)


def shape_source_names(config):
    """Names of the shape sources, in declaration order: the datacard's shape nuisances."""
    return [shift.source for shift in sources(config)]


def variation_index(shift):
    """Index of ``shift`` into the [up, down] values a variation expression gives."""
    return DIRECTIONS.index(shift.direction)


def up_and_down(config, source):
    """The up and down shift of ``source``."""
    return [config.get_shift(od.Shift.join_name(source, direction)) for direction in DIRECTIONS]


def template_name(process, shift):
    """Combine's name of the template of ``process`` under ``shift``: ``tt``, ``tt_jesUp``."""
    if shift.is_nominal:
        return process
    return f"{process}_{shift.source}{shift.direction.capitalize()}"
