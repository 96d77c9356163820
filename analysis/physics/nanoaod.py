"""NanoAOD versions: how their files differ from the canonical (v9) columns the analysis reads.

The skim reads a file of any supported version and writes the canonical columns, so that
everything after it is version-free:
- v10 and later name the event energy density ``Rho_fixedGridRhoFastjetAll``;
- the jet ID: v9-v11 store a usable ``Jet_jetId``; v12's is wrong where JME's 13.6 TeV
  definition is tighter, and JME's recipe corrects it from the energy fractions
  (config.x.objects["jet"]["v12_id"]); v13 and later are read with JME's jetid.json
  (correctionlib, corrections ``jet_id_tight`` and ``jet_id_tight_lepton_veto``), which
  v15, without ``Jet_jetId``, needs; the canonical ``Jet_jetId`` holds bit 2 (tight) and
  bit 4 (tight lepton veto) as v9 does;
- v15 has no ``MET_`` table: MET is PUPPI MET, and its unclustered-energy variation
  (``PuppiMET_{pt,phi}UnclusteredUp``) gives the canonical ``MET_MetUnclustEnUpDeltaX/Y``
  as v9 defines them (the up variation minus the nominal; down is its mirror).

The generator-weight arrays the theory shifts read have the same layouts in every version
(``WEIGHT_ARRAYS``): ``LHEScaleWeight`` of 9 entries ([3 iR + iF], muR and muF in 0.5, 1, 2),
or 8 without the nominal one; ``PSWeight`` of 4 (ISR and FSR up, then down). A sample that
stores none has one entry of 1 (or none). The ``Runs`` tree sums them over the generated
events (``LHEScaleSumw``: each entry's sum divided by genEventSumw since NanoAODv7; before,
``LHEScaleSumw_`` divided by another constant, the one of its nominal entry).
"""

from analysis.engine import corrections
from analysis.engine.corrections import JET_ID_KEYS
from analysis.errors import TmetError

# v5 to v8 (Run 2 before the UL) name what the analysis reads as v9 does
SUPPORTED = range(5, 16)
JET_FRACTIONS = ("Jet_chHEF", "Jet_neHEF", "Jet_chEmEF", "Jet_neEmEF", "Jet_muEF")
JET_MULTIPLICITIES = ("Jet_chMultiplicity", "Jet_neMultiplicity")
PUPPI_UNCLUSTERED = ("PuppiMET_ptUnclusteredUp", "PuppiMET_phiUnclusteredUp")
UNCLUSTERED_DELTAS = ("MET_MetUnclustEnUpDeltaX", "MET_MetUnclustEnUpDeltaY")


# NanoAOD's generator-weight arrays: the lengths of their layouts, the entries of the first
# (to which the others are mapped), the kernel of analysis/cpp/generator_weights.h that reads
# an entry so, and the Runs sums of genWeight x each entry, preferred first
WEIGHT_ARRAYS = {
    "LHEScaleWeight": {"lengths": (9, 8), "entries": 9, "kernel": "tmet::scale_weight",
                       "runs_sums": ("LHEScaleSumw", "LHEScaleSumw_")},
    "PSWeight": {"lengths": (4,), "entries": 4, "kernel": "tmet::ps_weight", "runs_sums": ("PSSumw",)},
}
# the lengths of a weight array that the sample does not store
ABSENT_LENGTHS = (0, 1)
# the nominal entry of the 9-entry LHEScaleWeight (muR = muF = 1), which the 8-entry layout leaves out
LHE_NOMINAL_ENTRY = 4


def runs_array_sums(array, values, sumw):
    """The sums of genWeight x each entry of ``array`` (in its first layout) of one Runs entry,
    from its Runs sums ``values`` and its ``sumw`` (genEventSumw). The Runs values are the
    sums divided by genEventSumw since NanoAODv7, by another constant before: a 9-entry
    LHEScaleSumw is divided by its nominal entry, which undoes either; an 8-entry one (v7
    and later only) gets its nominal entry, 1, inserted."""
    values = list(values)
    if array == "LHEScaleWeight":
        if len(values) == 8:
            values = values[:LHE_NOMINAL_ENTRY] + [1.0] + values[LHE_NOMINAL_ENTRY:]
        elif values[LHE_NOMINAL_ENTRY] > 0:
            values = [v / values[LHE_NOMINAL_ENTRY] for v in values]
    return [v * sumw for v in values]


def branch_names(config, nano_version):
    """Canonical name -> the branch of files of this NanoAOD version (and the campaign's or
    the datasets YAML's ``branch_map``), where they differ."""
    return {**renamed_branches(nano_version), **config.x.branch_map}


def check_version(version, where):
    if version not in SUPPORTED:
        raise TmetError(f"{where}: NanoAOD version {version!r} is not supported ({SUPPORTED[0]}-{SUPPORTED[-1]})")
    return version


def renamed_branches(version):
    """Canonical name -> this version's branch, where they differ."""
    renamed = {}
    if version >= 10:
        renamed["fixedGridRhoFastjetAll"] = "Rho_fixedGridRhoFastjetAll"
    if version >= 15:
        renamed.update({"MET_pt": "PuppiMET_pt", "MET_phi": "PuppiMET_phi"})
    return renamed


def jet_id_method(version):
    """How the canonical jet ID is made: "stored", "v12_recipe" or "jetid_json"."""
    return "stored" if version <= 11 else "v12_recipe" if version == 12 else "jetid_json"


def derived_columns(config, version, is_data):
    """Canonical columns the skim computes for this version: {column: (C++ expression, the
    file's branches it reads)}."""
    columns = {}
    method = jet_id_method(version)
    if method == "v12_recipe":
        v12 = config.x.objects["jet"]["v12_id"]
        cuts = ", ".join(str(v12[k]) for k in ("transition_abseta", "forward_abseta", "transition_neHEF_max",
                                                  "forward_neEmEF_max", "muEF_max", "chEmEF_max"))
        columns["Jet_jetId"] = ("tmet::jet_id_v12(Jet_eta, Jet_jetId, Jet_neHEF, Jet_neEmEF, Jet_muEF, Jet_chEmEF, "
                                f"{cuts})", ("Jet_eta", "Jet_jetId", *JET_FRACTIONS))
    elif method == "jetid_json":
        columns["Jet_jetId"] = ("tmet::jet_id_from_json(Jet_eta, Jet_chHEF, Jet_neHEF, Jet_chEmEF, Jet_neEmEF, "
                                "Jet_muEF, Jet_chMultiplicity, Jet_neMultiplicity)",
                                ("Jet_eta", *JET_FRACTIONS, *JET_MULTIPLICITIES))
    if version >= 15 and not is_data:
        for axis, column in zip("xy", UNCLUSTERED_DELTAS):
            columns[column] = (f"tmet::unclustered_delta_{axis}(PuppiMET_pt, PuppiMET_phi, {', '.join(PUPPI_UNCLUSTERED)})",
                               ("PuppiMET_pt", "PuppiMET_phi", *PUPPI_UNCLUSTERED))
    return columns


def needs_jet_id_corrections(version):
    return jet_id_method(version) == "jetid_json"


def used_jet_id(config, version):
    """The config values a graph on NanoAOD ``version`` depends on for its jet ID: JME's
    corrections where it reads them (none where the files store the ID)."""
    if not needs_jet_id_corrections(version):
        return {}
    return {"jet_id": corrections.used_corrections(config, JET_ID_KEYS)}


def jet_id_keys(config, version):
    """The corrections of JME's jet ID that a graph on NanoAOD ``version`` binds (none where
    the files store the jet ID); a config without them is an error naming it, before any
    file is read."""
    if not needs_jet_id_corrections(version):
        return ()
    missing = [key for key in JET_ID_KEYS if key not in config.x.corrections]
    if missing:
        raise TmetError(f"NanoAODv{version} files need JME's jet ID (jetid.json), but config '{config.name}' "
                        f"has no correction {', '.join(missing)}")
    return JET_ID_KEYS
