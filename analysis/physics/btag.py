"""b-tag efficiencies of the fixed-working-point method, measured on a dataset's MC skims.

Efficiency = tagged / all selected jets (nominal objects, preselected events), per hadron
flavour (0, 4, 5) and (pt, abs(eta)) bin, unweighted, written as a correctionlib JSON
``btag_efficiency(flavor, pt, abseta)`` that the b-tag weight reads. A bin without jets
takes its flavour's inclusive efficiency; a flavour without jets takes that of all jets
(it then only matters for jets a shift moves into the selection); a dataset without any
selected jet (real files often select nothing) gets NO_JETS_EFFICIENCY everywhere, which no
nominal jet of it ever uses. Values are kept in [1e-4, 1 - 1e-4] so that the weight never
divides by zero.
"""

import json

import correctionlib.schemav2 as cs
import numpy as np

from analysis.engine import corrections
from analysis.engine.compiled import Graph
from analysis.engine.corrections import BTAG_EFFICIENCY_NAME
from analysis.physics.selection import KERNELS, define_selection

FLAVOURS = (0, 4, 5)
EPSILON = 1e-4
NO_JETS_EFFICIENCY = 0.5


def used_config(config):
    """The config values the efficiencies depend on: the jets (smeared with the JER) and the bins."""
    return {"objects": config.x.objects, "binning": config.x.btag_efficiency_binning,
            "corrections": corrections.used_corrections(config, ("jer_resolution", "jer_sf"))}


def count_jets(paths, config, client=None):
    """{flavour: (all, tagged)} arrays of selected-jet counts in the config's (pt, abseta) bins
    (the flow bins folded into the edge bins, so that clamped evaluation sees every jet);
    ``client``: a Dask client, whose workers count them."""
    binning = config.x.btag_efficiency_binning
    pt_edges = [float(e) for e in binning["pt"]]
    eta_edges = [float(e) for e in binning["abseta"]]
    graph = Graph(corrections.correction_specs(config), KERNELS, f"b-tag efficiency counts of config {config.name}")
    df = define_selection(graph.frame(), config, is_data=False)
    booked = {}
    for flavour in FLAVOURS:
        sel = f"jet_sel && Jet_hadronFlavour == {flavour}"
        d = df.Define(f"pt_{flavour}", f"jet_pt[{sel}]").Define(f"eta_{flavour}", f"abs(Jet_eta[{sel}])")
        d = d.Define(f"pt_{flavour}_tag", f"jet_pt[{sel} && jet_tagged]")
        d = d.Define(f"eta_{flavour}_tag", f"abs(Jet_eta[{sel} && jet_tagged])")
        for kind, suffix in (("all", ""), ("tagged", "_tag")):
            model = (f"h_{flavour}_{kind}", "", len(pt_edges) - 1, pt_edges, len(eta_edges) - 1, eta_edges)
            booked[(flavour, kind)] = d.Histo2D(model, f"pt_{flavour}{suffix}", f"eta_{flavour}{suffix}")
    graph.run(paths, client=client)

    def contents(hist):
        # [abseta bin][pt bin] with flow -> [pt bin][abseta bin], each flow bin added to its edge bin
        folded = hist.contents.T.copy()
        for axis in (0, 1):
            folded = np.moveaxis(folded, axis, 0)
            folded[1] += folded[0]
            folded[-2] += folded[-1]
            folded = np.moveaxis(folded[1:-1], 0, axis)
        return folded

    return {f: (contents(booked[(f, "all")].value()), contents(booked[(f, "tagged")].value())) for f in FLAVOURS}


def efficiencies(counts):
    """{flavour: efficiency array} with the fallbacks of the module docstring."""
    total_all = sum(c[0].sum() for c in counts.values())
    overall = sum(c[1].sum() for c in counts.values()) / total_all if total_all else NO_JETS_EFFICIENCY
    result = {}
    for flavour, (n_all, n_tagged) in counts.items():
        inclusive = n_tagged.sum() / n_all.sum() if n_all.sum() > 0 else overall
        with np.errstate(invalid="ignore", divide="ignore"):
            eff = np.where(n_all > 0, n_tagged / np.where(n_all > 0, n_all, 1), inclusive)
        result[flavour] = np.clip(eff, EPSILON, 1 - EPSILON)
    return result


def write_efficiency_json(path, config, effs, description):
    """The efficiencies as a correctionlib JSON (schema v2) with clamped flow."""
    binning = config.x.btag_efficiency_binning
    content = [
        cs.CategoryItem(key=flavour, value=cs.MultiBinning(
            nodetype="multibinning", inputs=["pt", "abseta"],
            edges=[list(binning["pt"]), list(binning["abseta"])],
            content=[float(v) for v in effs[flavour].flatten()], flow="clamp",
        ))
        for flavour in FLAVOURS
    ]
    correction = cs.Correction(
        name=BTAG_EFFICIENCY_NAME, version=1, description=description,
        inputs=[cs.Variable(name="flavor", type="int"), cs.Variable(name="pt", type="real"),
                cs.Variable(name="abseta", type="real")],
        output=cs.Variable(name="efficiency", type="real"),
        data=cs.Category(nodetype="category", input="flavor", content=content),
    )
    cset = cs.CorrectionSet(schema_version=2, corrections=[correction], description=description)
    with open(path, "w") as f:
        json.dump(json.loads(cset.model_dump_json(exclude_unset=True)), f, indent=1)
