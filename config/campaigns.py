"""Campaign values: what a data-taking period fixes for every analysis of it.

Luminosity, b-tag working point, MET filters, triggers, NanoAOD version, correction files,
certified-luminosity mask, XRootD redirectors and branch names are stated here once per
campaign; a config takes them from its campaign (the synthetic config from 2018's, with its
own correction files). Values are made when a config is built, not at import time, so that
the environment variables below are read when a run needs them.
"""

import os

from scinum import Number

# where CMS publishes the POG correction files (jsonpog-integration); TMET_POG_ROOT moves it,
# e.g. to a local copy of the repository
POG_ROOT = "/cvmfs/cms.cern.ch/rsync/cms-nanoAOD/jsonpog-integration/POG"
SYNTHETIC_CORRECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                     "data", "corrections", "run2_2018_synth")
REDIRECTORS = ["root://cms-xrd-global.cern.ch/", "root://xrootd-cms.infn.it/", "root://cmsxrootd.fnal.gov/"]
MET_TRIGGERS = ["HLT_PFMETNoMu120_PFMHTNoMu120_IDTight"]
# file name per POG in the jsonpog-integration layout <root>/<POG>/<era>/<name>.json.gz
POG_FILE_NAMES = {"LUM": "puWeights", "MUO": "muon_Z", "EGM": "electron", "BTV": "btagging", "JME": "jet_jerc"}


def pog_files(era):
    """POG -> correction file of ``era`` under $TMET_POG_ROOT (default: CMS's cvmfs copy)."""
    root = os.environ.get("TMET_POG_ROOT", POG_ROOT)
    return {pog: os.path.join(root, pog, era, f"{name}.json.gz") for pog, name in POG_FILE_NAMES.items()}


def corrections(files, jec_prefix, jer_prefix, jet_type, electron_year, electron_name="UL-Electron-ID-SF",
                pileup_name="Collisions18_UltraLegacy_goldenJSON", btag_light="deepJet_incl"):
    """Correction key -> file and correction name (plus the fixed inputs some need)."""
    return {
        "pileup": {"file": files["LUM"], "name": pileup_name},
        "muon_id": {"file": files["MUO"], "name": "NUM_TightID_DEN_TrackerMuons"},
        "muon_iso": {"file": files["MUO"], "name": "NUM_TightRelIso_DEN_TightIDandIPCut"},
        "electron_id": {"file": files["EGM"], "name": electron_name, "year": electron_year, "working_point": "Tight"},
        "btag_heavy": {"file": files["BTV"], "name": "deepJet_comb"},
        "btag_light": {"file": files["BTV"], "name": btag_light},
        "jes": {"file": files["JME"], "name": f"{jec_prefix}_MC_Total_{jet_type}"},
        "jer_resolution": {"file": files["JME"], "name": f"{jer_prefix}_MC_PtResolution_{jet_type}"},
        "jer_sf": {"file": files["JME"], "name": f"{jer_prefix}_MC_ScaleFactor_{jet_type}"},
    }


def ul2018():
    """Run 2 UL 2018, NanoAODv9."""
    return {
        "name": "run2_2018_ul_nanov9", "id": 2, "ecm": 13,
        "luminosity": Number(59830.0, {"lumi": 0.025j}),
        # DeepJet medium working point
        "btag_working_point": 0.2783,
        "met_filters": ["Flag_goodVertices", "Flag_globalSuperTightHalo2016Filter", "Flag_HBHENoiseFilter",
                        "Flag_HBHENoiseIsoFilter", "Flag_EcalDeadCellTriggerPrimitiveFilter", "Flag_BadPFMuonFilter"],
        "data_only_filters": ["Flag_eeBadScFilter"],
        "triggers": list(MET_TRIGGERS),
        "nano_version": 9,
        "lumi_mask": os.environ.get(
            "TMET_LUMI_MASK_2018",
            "/eos/user/c/cmsdqm/www/CAF/certification/Collisions18/13TeV/Legacy_2018/"
            "Cert_314472-325175_13TeV_Legacy2018_Collisions18_JSON.txt",
        ),
        "redirectors": list(REDIRECTORS),
        "branch_map": {},
        "corrections": corrections(pog_files("2018_UL"), jec_prefix="Summer19UL18_V5", jer_prefix="Summer19UL18_JRV2",
                                   jet_type="AK4PFchs", electron_year="2018"),
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
        "corrections": corrections(files, jec_prefix="Summer19UL18_V5", jer_prefix="Summer19UL18_JRV2",
                                   jet_type="AK4PFchs", electron_year="2018"),
    }


def run3_2022():
    """Run 3 2022 (eras B-G), NanoAODv12: v9 branch names but rho, unsigned-char IDs (the
    kernels are templated on branch types)."""
    return {
        "name": "run3_2022_nanov12", "id": 3, "ecm": 13.6,
        "luminosity": Number(34653.0, {"lumi": 0.014j}),
        # DeepJet medium working point of 2022 (pre-EE)
        "btag_working_point": 0.3086,
        "met_filters": ["Flag_goodVertices", "Flag_globalSuperTightHalo2016Filter",
                        "Flag_EcalDeadCellTriggerPrimitiveFilter", "Flag_BadPFMuonFilter", "Flag_BadPFMuonDzFilter",
                        "Flag_hfNoisyHitsFilter", "Flag_eeBadScFilter", "Flag_ecalBadCalibFilter"],
        "data_only_filters": [],
        "triggers": list(MET_TRIGGERS),
        "nano_version": 12,
        "lumi_mask": os.environ.get(
            "TMET_LUMI_MASK_2022",
            "/eos/user/c/cmsdqm/www/CAF/certification/Collisions22/Cert_Collisions2022_355100_362760_Golden.json",
        ),
        "redirectors": list(REDIRECTORS),
        # NanoAODv12 moved the event energy density (the JER resolution's rho) into its Rho table
        "branch_map": {"fixedGridRhoFastjetAll": "Rho_fixedGridRhoFastjetAll"},
        "corrections": corrections(
            pog_files("2022_Summer22"), jec_prefix="Summer22_22Sep2023_V2", jer_prefix="Summer22_22Sep2023_JRV1",
            jet_type="AK4PFPuppi", electron_year="2022Re-recoBCD", electron_name="Electron-ID-SF",
            pileup_name="Collisions2022_355100_357900_eraBCD_GoldenJson", btag_light="deepJet_light",
        ),
    }
