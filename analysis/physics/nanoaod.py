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
"""

from analysis.engine.corrections import JET_ID_KEYS
from analysis.errors import TmetError

# v5 to v8 (Run 2 before the UL) name what the analysis reads as v9 does
SUPPORTED = range(5, 16)
JET_FRACTIONS = ("Jet_chHEF", "Jet_neHEF", "Jet_chEmEF", "Jet_neEmEF", "Jet_muEF")
JET_MULTIPLICITIES = ("Jet_chMultiplicity", "Jet_neMultiplicity")
PUPPI_UNCLUSTERED = ("PuppiMET_ptUnclusteredUp", "PuppiMET_phiUnclusteredUp")
UNCLUSTERED_DELTAS = ("MET_MetUnclustEnUpDeltaX", "MET_MetUnclustEnUpDeltaY")


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
