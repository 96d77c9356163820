"""Campaign values: what a data-taking period fixes for every analysis of it.

Luminosity, b-tag working point, MET filters, triggers, NanoAOD version, correction files,
certified-luminosity mask, XRootD redirectors and branch names are stated here once per
campaign; a config takes them from its campaign (the synthetic config from 2018's, with its
own correction files). Values are made when a config is built, not at import time, so that
the environment variables below are read when a run needs them.
"""

import os

from scinum import Number

from analysis.errors import TmetError
from config.datasets import checked_top_candidates_output

# where CMS publishes the POG correction files (jsonpog-integration); TMET_POG_ROOT moves it,
# e.g. to a local copy of the repository
POG_ROOT = "/cvmfs/cms.cern.ch/rsync/cms-nanoAOD/jsonpog-integration/POG"
DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SYNTHETIC_CORRECTIONS = os.path.join(DATA_DIR, "corrections", "run2_2018_synth")
# the top tagger STEP 1 runs: tmet's model, trained on synthetic events by
# scripts/train_top_tagger.py, with its scaler; the features it takes, in its order (each one
# config.x.top_candidates["features"] defines)
TOP_TAGGER_FEATURES = ["trijet_pt", "trijet_mass", "dijet_mass", "b_btag", "j1_btag", "j2_btag", "dr_j1j2",
                       "dr_b_dijet", "b_pt_frac", "j1_pt_frac"]
REDIRECTORS = ["root://cms-xrd-global.cern.ch/", "root://xrootd-cms.infn.it/", "root://cmsxrootd.fnal.gov/"]
MET_TRIGGERS = ["HLT_PFMETNoMu120_PFMHTNoMu120_IDTight"]
# file name per POG in the jsonpog-integration layout <root>/<POG>/<era>/<name>.json.gz
POG_FILE_NAMES = {"LUM": "puWeights", "MUO": "muon_Z", "EGM": "electron", "BTV": "btagging", "JME": "jet_jerc",
                  "JME_ID": "jetid"}


# tmet's own tagger: its working point, the score above which a candidate is a top (the
# STEP 2 tag; about half of tt_sl events, 3 % of W+jets, docs/physics.md)
TMET_TAGGER_WORKING_POINT = 0.8
# the corrections of the b-tag scale factors, which take the b-tag working point by its name
BTAG_CORRECTIONS = ("btag_heavy", "btag_light")


def top_tagger(directory, working_point):
    """The top tagger of the model files in ``directory`` (top_tagger.h5 and its scaler), with
    its ``working_point``: a cut belongs to the model whose score scale it was chosen on."""
    return {"model": os.path.join(directory, "top_tagger.h5"),
            "scaler": os.path.join(directory, "top_tagger_scaler.json"), "features": list(TOP_TAGGER_FEATURES),
            "working_point": working_point}


def with_btag_working_point(corrections, working_point):
    """``corrections`` with the b-tag scale factors taken at ``working_point`` (its name), so
    that the threshold and the scale factors come from the one name."""
    tied = dict(corrections)
    for key in BTAG_CORRECTIONS:
        if key in tied:
            tied[key] = {**tied[key], "fixed": {**tied[key].get("fixed", {}), "working_point": working_point}}
    return tied


def met_filters(common, data_only=()):
    """The MET filter flags required in MC and in data."""
    return {"mc": list(common), "data": list(common) + list(data_only)}


def lumi_mask(variable, default):
    """The certified-luminosity JSON: $``variable`` if set (empty: no mask), else ``default``."""
    return os.environ.get(variable, default) or None


def pog_files(era):
    """POG -> correction file of ``era`` under $TMET_POG_ROOT (default: CMS's cvmfs copy)."""
    root = os.environ.get("TMET_POG_ROOT", POG_ROOT)
    return {pog: os.path.join(root, pog.split("_")[0], era, f"{name}.json.gz") for pog, name in POG_FILE_NAMES.items()}


def corrections(files, jec_prefix, jer_prefix, jet_type, electron_year, electron_name="UL-Electron-ID-SF",
                pileup_name="Collisions18_UltraLegacy_goldenJSON", btag_light="deepJet_incl", jer_sf_pt=False,
                muon_iso_name="NUM_TightRelIso_DEN_TightIDandIPCut", jet_id=True):
    """Correction key -> its file, its name there and what feeds each of its inputs, by the
    input's own name: a quantity of tmet's kernel (``analysis.engine.corrections.QUANTITIES``), the
    ``variation`` (whose nominal, up and down strings the file uses are ``variations``) or a
    ``fixed`` value. Checked against the file when it is loaded. ``jet_id``: JME's jet ID
    (jetid.json) for NanoAODv13 and later, which it exists for."""
    jet = {"JetEta": "eta", "JetPt": "pt"}
    # the working point by the campaign's btag_working_point (with_btag_working_point)
    btag = {"file": files["BTV"], "inputs": {"systematic": "variation", "flavor": "flavour", "abseta": "abseta",
                                             "pt": "pt"},
            "variations": ["central", "up", "down"]}
    # the muon files bin |eta| but take eta (and transform it)
    muon = {"file": files["MUO"], "inputs": {"eta": "eta", "pt": "pt", "scale_factors": "variation"},
            "variations": ["nominal", "systup", "systdown"]}
    id_inputs = ["eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity",
                 "multiplicity"]
    jet_ids = {
        "jet_id_tight": {"file": files["JME_ID"], "name": "AK4PUPPI_Tight",
                         "inputs": {n: n for n in id_inputs if n not in ("chEmEF", "muEF")}},
        "jet_id_tight_lepton_veto": {"file": files["JME_ID"], "name": "AK4PUPPI_TightLeptonVeto",
                                     "inputs": {n: n for n in id_inputs}},
    } if jet_id else {}
    return {
        **jet_ids,
        "pileup": {"file": files["LUM"], "name": pileup_name,
                   "inputs": {"NumTrueInteractions": "n_true_interactions", "weights": "variation"},
                   "variations": ["nominal", "up", "down"]},
        "muon_id": {**muon, "name": "NUM_TightID_DEN_TrackerMuons"},
        "muon_iso": {**muon, "name": muon_iso_name},
        "electron_id": {"file": files["EGM"], "name": electron_name,
                        "inputs": {"ValType": "variation", "eta": "eta", "pt": "pt"},
                        "fixed": {"year": electron_year, "WorkingPoint": "Tight"},
                        "variations": ["sf", "sfup", "sfdown"]},
        # at the b-tag working point of config.x.objects["btag"] (the campaign's btag_working_point)
        "btag_heavy": {**btag, "name": "deepJet_comb"},
        "btag_light": {**btag, "name": btag_light},
        "jes": {"file": files["JME"], "name": f"{jec_prefix}_MC_Total_{jet_type}", "inputs": dict(jet)},
        "jer_resolution": {"file": files["JME"], "name": f"{jer_prefix}_MC_PtResolution_{jet_type}",
                           "inputs": {**jet, "Rho": "rho"}},
        # Run 2 scale factors depend on eta only, Run 3 ones on pt too
        "jer_sf": {"file": files["JME"], "name": f"{jer_prefix}_MC_ScaleFactor_{jet_type}",
                   "inputs": {"JetEta": "eta", **({"JetPt": "pt"} if jer_sf_pt else {}), "systematic": "variation"},
                   "variations": ["nom", "up", "down"]},
    }


def ul2018():
    """Run 2 UL 2018, NanoAODv9."""
    return {
        "name": "run2_2018_ul_nanov9", "id": 2, "ecm": 13,
        "luminosity": Number(59830.0, {"lumi": 0.025j}),
        # DeepJet's working points of UL 2018 (BTV), by name; the analysis takes the medium one
        "btag_working_points": {"L": 0.0490, "M": 0.2783, "T": 0.7100},
        "btag_working_point": "M",
        "met_filters": met_filters(["Flag_goodVertices", "Flag_globalSuperTightHalo2016Filter", "Flag_HBHENoiseFilter",
                                    "Flag_HBHENoiseIsoFilter", "Flag_EcalDeadCellTriggerPrimitiveFilter",
                                    "Flag_BadPFMuonFilter"], data_only=["Flag_eeBadScFilter"]),
        "triggers": list(MET_TRIGGERS),
        "nano_version": 9,
        "lumi_mask": lumi_mask("TMET_LUMI_MASK_2018",
                               "/eos/user/c/cmsdqm/www/CAF/certification/Collisions18/13TeV/Legacy_2018/"
                               "Cert_314472-325175_13TeV_Legacy2018_Collisions18_JSON.txt"),
        "redirectors": list(REDIRECTORS),
        "branch_map": {},
        # the group's model goes here (or under settings: top_tagger); until then tmet's own
        "top_tagger": top_tagger(os.path.join(DATA_DIR, "models", "run2_2018_synth"), TMET_TAGGER_WORKING_POINT),
        # STEP 1's output: a copy of every branch with the candidates, compressed as CMS
        # writes NanoAOD (as NanoAOD-tools' post-processor writes it), or a friend file
        "top_candidates_output": "full",
        "top_candidates_compression": {"algorithm": "LZMA", "level": 9},
        "corrections": corrections(pog_files("2018_UL"), jec_prefix="Summer19UL18_V5", jer_prefix="Summer19UL18_JRV2",
                                   jet_type="AK4PFchs", electron_year="2018", jet_id=False),
    }


def synthetic2018():
    """The 2018 campaign on synthetic NanoAOD: 2018's values, the synthetic correction files
    (``scripts/make_synth_corrections.py``, with the real POG names), no lumi mask, no
    redirectors (GenerateSample makes the inputs)."""
    files = {pog: os.path.join(SYNTHETIC_CORRECTIONS, f"{name}.json") for pog, name in POG_FILE_NAMES.items()}
    return {
        **ul2018(),
        "name": "run2_2018_synth", "id": 1,
        "lumi_mask": None,
        "redirectors": [],
        # STEP 1 of the synthetic samples as fast to write as the samples (LZ4, their
        # generator's default): LZMA 9 made it the slowest task of the main job
        "top_candidates_compression": {"algorithm": "LZ4", "level": 1},
        "corrections": corrections(files, jec_prefix="Summer19UL18_V5", jer_prefix="Summer19UL18_JRV2",
                                   jet_type="AK4PFchs", electron_year="2018"),
    }


def run3_2022():
    """Run 3 2022 (eras B-G), NanoAODv12 (its differences from v9 are analysis.physics.nanoaod's)."""
    return {
        "name": "run3_2022_nanov12", "id": 3, "ecm": 13.6,
        "luminosity": Number(34653.0, {"lumi": 0.014j}),
        # DeepJet's working points of 2022 (pre-EE, BTV), by name; the analysis takes the medium one
        "btag_working_points": {"L": 0.0583, "M": 0.3086, "T": 0.7183},
        "btag_working_point": "M",
        "met_filters": met_filters(["Flag_goodVertices", "Flag_globalSuperTightHalo2016Filter",
                                    "Flag_EcalDeadCellTriggerPrimitiveFilter", "Flag_BadPFMuonFilter",
                                    "Flag_BadPFMuonDzFilter", "Flag_hfNoisyHitsFilter", "Flag_eeBadScFilter",
                                    "Flag_ecalBadCalibFilter"]),
        "triggers": list(MET_TRIGGERS),
        "nano_version": 12,
        "lumi_mask": lumi_mask("TMET_LUMI_MASK_2022", "/eos/user/c/cmsdqm/www/CAF/certification/Collisions22/"
                                                      "Cert_Collisions2022_355100_362760_Golden.json"),
        "redirectors": list(REDIRECTORS),
        "branch_map": {},
        "top_tagger": top_tagger(os.path.join(DATA_DIR, "models", "run2_2018_synth"), TMET_TAGGER_WORKING_POINT),
        "top_candidates_output": "full",
        "top_candidates_compression": {"algorithm": "LZMA", "level": 9},
        "corrections": corrections(
            pog_files("2022_Summer22"), jec_prefix="Summer22_22Sep2023_V2", jer_prefix="Summer22_22Sep2023_JRV1",
            jet_type="AK4PFPuppi", electron_year="2022Re-recoBCD", electron_name="Electron-ID-SF",
            pileup_name="Collisions2022_355100_357900_eraBCD_GoldenJson", btag_light="deepJet_light", jer_sf_pt=True,
            muon_iso_name="NUM_TightPFIso_DEN_TightID",
        ),
    }


# what a datasets YAML's ``settings:`` may override, so that one's own files need no code edit
SETTINGS = ("triggers", "met_filters", "lumi_mask", "corrections", "redirectors", "branch_map", "top_tagger",
            "btag_working_point", "top_candidates_output", "top_candidates_compression")
# the compressions STEP 1 may write (ROOT's algorithms; ZLIB is no choice of CMS's)
COMPRESSION_ALGORITHMS = ("LZMA", "ZSTD", "LZ4")
TOP_TAGGER_FIELDS = ("model", "scaler", "features", "working_point")
CORRECTION_FIELDS = ("file", "name", "inputs", "fixed", "variations")


def with_settings(values, settings, path):
    """The campaign ``values`` with the ``settings:`` of the datasets YAML ``path`` applied.

    ``triggers``, ``redirectors``: lists (empty: none); ``met_filters``: a list for MC and
    data, or {mc: [...], data: [...]}; ``lumi_mask``: a path, or null for none;
    ``corrections``: {key: file} or {key: {file, name, inputs, fixed, variations}}, merged
    into the campaign's; ``branch_map``: {canonical name: name in the files}; ``top_tagger``:
    {model, scaler, features, working_point} (STEP 1's Keras model, its scaler JSON, the
    features it takes, in order, and the score above which a candidate is tagged), merged into
    the campaign's: a new model needs its own working point; ``btag_working_point``: the name
    of one of the campaign's b-tag working points (L, M, T), which the threshold and the scale
    factors both take; ``top_candidates_output``: full or friend (what STEP 1 writes, for every
    dataset that does not say); ``top_candidates_compression``: {algorithm: LZMA, ZSTD or LZ4,
    level: 1-9}. Relative paths are relative to the YAML file. Anything else is an error
    naming the file and the key.
    """
    if settings is None:
        return values
    where = f"{path}, settings"
    if not isinstance(settings, dict):
        raise TmetError(f"{where}: expected a mapping of {', '.join(SETTINGS)}")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise TmetError(f"{where}: unknown key(s) {unknown}; known: {', '.join(SETTINGS)}")
    base = os.path.dirname(os.path.abspath(path))

    def names(key, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TmetError(f"{where}: '{key}' must be a list of names")
        return list(value)

    def file(key, value):
        if not isinstance(value, str) or not value:
            raise TmetError(f"{where}: '{key}' must be a file path")
        return value if "://" in value else os.path.join(base, os.path.expanduser(value))

    values = dict(values)
    for key, value in settings.items():
        if key in ("triggers", "redirectors"):
            values[key] = names(key, value)
        elif key == "met_filters":
            if isinstance(value, dict):
                if sorted(value) != ["data", "mc"]:
                    raise TmetError(f"{where}: 'met_filters' as a mapping needs exactly 'mc' and 'data'")
                values[key] = {kind: names(f"met_filters: {kind}", value[kind]) for kind in ("mc", "data")}
            else:
                values[key] = met_filters(names(key, value))
        elif key == "lumi_mask":
            values[key] = None if value is None else file(key, value)
        elif key == "top_tagger":
            if not isinstance(value, dict) or set(value) - set(TOP_TAGGER_FIELDS):
                raise TmetError(f"{where}: 'top_tagger' takes a mapping of {', '.join(TOP_TAGGER_FIELDS)}")
            if "model" in value and "working_point" not in value:
                raise TmetError(f"{where}: 'top_tagger' gives the model {value['model']} without its working point: "
                                f"a score cut belongs to the model it was chosen on (the campaign's is for "
                                f"{os.path.basename(values[key]['model'])}); give top_tagger: working_point: the score "
                                f"above which this model tags a candidate")
            merged = {**values[key], **value}
            for field in ("model", "scaler"):
                if field in value:
                    merged[field] = file(f"top_tagger: {field}", value[field])
            if "features" in value:
                merged["features"] = names("top_tagger: features", value["features"])
            if "working_point" in value and (isinstance(value["working_point"], bool)
                                             or not isinstance(value["working_point"], (int, float))):
                raise TmetError(f"{where}: 'top_tagger: working_point' must be a number (the score cut), got "
                                f"{value['working_point']!r}")
            values[key] = merged
        elif key == "btag_working_point":
            if value not in values["btag_working_points"]:
                raise TmetError(f"{where}: 'btag_working_point' must name one of the campaign's b-tag working points "
                                f"({', '.join(f'{k}: {v}' for k, v in values['btag_working_points'].items())}), got "
                                f"{value!r}")
            values[key] = value
        elif key == "top_candidates_output":
            values[key] = checked_top_candidates_output(where, value)
        elif key == "top_candidates_compression":
            values[key] = checked_compression(where, key, value)
        elif key == "branch_map":
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in value.items()):
                raise TmetError(f"{where}: 'branch_map' must map canonical branch names to the files' names")
            values[key] = dict(value)
        else:
            values[key] = merged_corrections(values[key], value, where, file)
    return values


def checked_compression(where, key, value):
    """{algorithm, level} of a compression setting, checked."""
    if not isinstance(value, dict) or set(value) != {"algorithm", "level"}:
        raise TmetError(f"{where}: '{key}' must be a mapping of algorithm ({', '.join(COMPRESSION_ALGORITHMS)}) and "
                        f"level (1-9), got {value!r}")
    if value["algorithm"] not in COMPRESSION_ALGORITHMS:
        raise TmetError(f"{where}: '{key}: algorithm' must be one of {', '.join(COMPRESSION_ALGORITHMS)}, got "
                        f"{value['algorithm']!r}")
    if isinstance(value["level"], bool) or value["level"] not in range(1, 10):
        raise TmetError(f"{where}: '{key}: level' must be a whole number from 1 to 9, got {value['level']!r}")
    return dict(value)


def merged_corrections(corrections, overrides, where, file):
    if not isinstance(overrides, dict):
        raise TmetError(f"{where}: 'corrections' must map correction keys to files")
    merged = dict(corrections)
    for key, value in overrides.items():
        if key not in corrections:
            raise TmetError(f"{where}: unknown correction '{key}'; known: {', '.join(sorted(corrections))}")
        if isinstance(value, str):
            value = {"file": value}
        if not isinstance(value, dict) or set(value) - set(CORRECTION_FIELDS):
            raise TmetError(f"{where}: correction '{key}' takes a file or a mapping of {', '.join(CORRECTION_FIELDS)}")
        if key in BTAG_CORRECTIONS and "working_point" in (value.get("fixed") or {}):
            raise TmetError(f"{where}: correction '{key}' fixes its working_point, but the b-tag scale factors take "
                            f"the working point of the threshold: set settings: btag_working_point instead")
        merged[key] = {**corrections[key], **value, "file": file(f"corrections: {key}", value.get("file",
                                                                                                    corrections[key]["file"]))}
    return merged
