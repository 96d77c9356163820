"""Config ``run2_2018``: real Run 2 UL 2018 NanoAODv9, read over XRootD.

``add_2018_values`` holds the campaign's analysis values (luminosity, working points,
filters, triggers, object definitions); the synthetic config reuses them so that both
run the same physics and differ only in inputs and correction files.
"""

import os

import order as od
from scinum import Number

from config import common, processes
from config.datasets import load_datasets

HERE = os.path.dirname(os.path.abspath(__file__))
POG = "/cvmfs/cms.cern.ch/rsync/cms-nanoAOD/jsonpog-integration/POG"

MET_FILTERS_2018 = [
    "Flag_goodVertices",
    "Flag_globalSuperTightHalo2016Filter",
    "Flag_HBHENoiseFilter",
    "Flag_HBHENoiseIsoFilter",
    "Flag_EcalDeadCellTriggerPrimitiveFilter",
    "Flag_BadPFMuonFilter",
]


def pog_files(root, era):
    """Correction files in the jsonpog-integration layout ``<root>/<POG>/<era>/<file>.json.gz``."""
    names = {"LUM": "puWeights", "MUO": "muon_Z", "EGM": "electron", "BTV": "btagging", "JME": "jet_jerc"}
    return {pog: os.path.join(root, pog, era, f"{name}.json.gz") for pog, name in names.items()}


def corrections(files, jec_prefix, jer_prefix, jet_type, electron_year, electron_name="UL-Electron-ID-SF",
                pileup_name="Collisions18_UltraLegacy_goldenJSON", btag_light="deepJet_incl"):
    """Correction files (POG name -> path) and the names of the corrections used from them."""
    return {
        "pileup": {"file": files["LUM"], "name": pileup_name},
        "muon_id": {"file": files["MUO"], "name": "NUM_TightID_DEN_TrackerMuons"},
        "muon_iso": {"file": files["MUO"], "name": "NUM_TightRelIso_DEN_TightIDandIPCut"},
        "electron_id": {"file": files["EGM"], "name": electron_name, "year": electron_year, "working_point": "Tight"},
        "btag": {"file": files["BTV"], "heavy": "deepJet_comb", "light": btag_light},
        "jes": {"file": files["JME"], "name": f"{jec_prefix}_MC_Total_{jet_type}"},
        "jer_resolution": {"file": files["JME"], "name": f"{jer_prefix}_MC_PtResolution_{jet_type}"},
        "jer_sf": {"file": files["JME"], "name": f"{jer_prefix}_MC_ScaleFactor_{jet_type}"},
    }


def add_analysis_values(config, luminosity, btag_wp, met_filters, data_only_filters, triggers, nano_version):
    """Analysis values of ANALYSIS.md that every config carries, parametrised by campaign."""
    config.x.luminosity = luminosity
    config.x.nano_version = nano_version
    config.x.met_filters = {"mc": list(met_filters), "data": list(met_filters) + list(data_only_filters)}
    config.x.triggers = list(triggers)
    config.x.objects = {
        "muon_tight": {"pt": 30.0, "abseta": 2.4, "id": "Muon_tightId", "iso": 0.15},
        "muon_veto": {"pt": 10.0, "abseta": 2.4, "id": "Muon_looseId", "iso": 0.25},
        "electron_tight": {"pt": 30.0, "abseta": 2.5, "cut_based": 4},
        "electron_veto": {"pt": 10.0, "abseta": 2.5, "cut_based": 1},
        "jet": {"pt": 30.0, "abseta": 2.4, "id_bit": 2, "lepton_dr": 0.4, "min_dphi_jets": 4},
        "btag": {"branch": "Jet_btagDeepFlavB", "working_point": "M", "value": btag_wp},
        "top": {"tag_score": 0.8, "tag_uncertainty": 0.05},
        "met": {"recompute_jet_pt": 15.0},
    }
    # bins of the b-tag efficiency maps measured on each MC dataset's skims
    config.x.btag_efficiency_binning = {
        "pt": [30.0, 50.0, 70.0, 100.0, 140.0, 200.0, 300.0, 600.0, 1000.0],
        "abseta": [0.0, 0.8, 1.6, 2.4],
    }
    # skim preselection: looser than every category under every shift
    config.x.skim = {"met_min": 200.0, "jet_pt_min": 25.0, "n_jet_min": 2}
    # LZ4 level 1: levels >= 4 switch to LZ4-HC, ~35 % slower skims for 4 % smaller files
    config.x.skim_compression = {"algorithm": "LZ4", "level": 1}
    # every Events branch the analysis reads under every shift: the skim keeps exactly these
    # (plus the campaign's flags and triggers); data files never read the MC-only ones
    config.x.analysis_branches = {
        "all": [
            "run", "luminosityBlock", "event",
            "nMuon", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId",
            "Muon_looseId", "Muon_pfRelIso04_all",
            "nElectron", "Electron_pt", "Electron_eta", "Electron_phi", "Electron_mass", "Electron_charge",
            "Electron_cutBased",
            "nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_jetId", "Jet_btagDeepFlavB",
            "nTopCand", "TopCand_pt", "TopCand_eta", "TopCand_phi", "TopCand_mass", "TopCand_score", "TopCand_type",
            "MET_pt", "MET_phi", "fixedGridRhoFastjetAll",
        ],
        "mc": [
            "Jet_hadronFlavour", "MET_MetUnclustEnUpDeltaX", "MET_MetUnclustEnUpDeltaY", "Pileup_nTrueInt",
            "genWeight", "nLHEScaleWeight", "LHEScaleWeight", "nPSWeight", "PSWeight",
        ],
    }
    # branches that exist only in simulation (a data file must not have them)
    config.x.mc_only_branches = [
        "Jet_hadronFlavour", "Pileup_nTrueInt", "Pileup_nPU", "genWeight", "nLHEScaleWeight", "LHEScaleWeight",
        "nPSWeight", "PSWeight",
    ]
    # canonical (NanoAODv9) branch name -> this campaign's name, only where they differ
    config.x.branch_map = {}
    # LHEScaleWeight indices (9-entry NanoAOD convention; 8-entry files lack index 4)
    config.x.lhe_scale_indices = {"mur_up": 7, "mur_down": 1, "muf_up": 5, "muf_down": 3}
    # PSWeight indices: [0] ISR=2, [1] FSR=2, [2] ISR=0.5, [3] FSR=0.5
    config.x.ps_indices = {"isr_up": 0, "fsr_up": 1, "isr_down": 2, "fsr_down": 3}
    # certified-luminosity JSON applied to data in the skim (None: no mask, e.g. synthetic data)
    config.x.lumi_mask = None
    # regions whose data_obs is the background sum in the datacard
    config.x.blinded_categories = []
    # "per_point": one card set per signal point; "all": every signal in one card
    config.x.datacard_signal_mode = "per_point"
    config.x.fit_variable = "met"


def attach_processes(config):
    """Add the analysis processes to ``config`` and remember the top-level MC ones."""
    for process in [processes.data] + processes.backgrounds + [processes.signal]:
        config.add_process(process)
    config.x.mc_processes = processes.backgrounds + processes.signals
    config.x.background_processes = processes.backgrounds
    config.x.signal_processes = processes.signals


def process_index(config):
    """Name -> process of every process (and sub-process) that datasets may name."""
    index = {}
    for process in config.processes:
        index[process.name] = process
        for child, _, _ in process.walk_processes():
            index[child.name] = child
    return index


def finish_config(config, datasets_file):
    """Datasets from YAML, then shifts, categories and variables of ANALYSIS.md.

    The environment variable TMET_DATASETS_<CONFIG NAME> replaces the YAML file, e.g. to
    run a config on one's own file lists or a tiny synthetic sample.
    """
    datasets_file = os.environ.get(f"TMET_DATASETS_{config.name.upper()}", datasets_file)
    content = load_datasets(datasets_file, config.campaign, process_index(config))
    for dataset in config.campaign.datasets:
        config.add_dataset(dataset)
    config.x.redirectors = list(content.get("redirectors", []))
    config.x.campaign_values = dict(content.get("campaign", {}))
    config.x.datasets_file = datasets_file
    common.add_shifts(config)
    common.add_categories(config)
    common.add_variables(config)
    return config


def create_config(analysis):
    campaign = od.Campaign("run2_2018_ul_nanov9", 2, ecm=13, bx=25)
    config = analysis.add_config(campaign, name="run2_2018", id=2)
    attach_processes(config)
    add_analysis_values(
        config,
        luminosity=Number(59830.0, {"lumi": 0.025j}),
        btag_wp=0.2783,
        met_filters=MET_FILTERS_2018,
        data_only_filters=["Flag_eeBadScFilter"],
        triggers=["HLT_PFMETNoMu120_PFMHTNoMu120_IDTight"],
        nano_version=9,
    )
    # real data stays blind in the signal regions until the analysis is approved
    config.x.blinded_categories = ["sr_0l", "sr_1l"]
    config.x.lumi_mask = os.environ.get(
        "TMET_LUMI_MASK_2018",
        "/eos/user/c/cmsdqm/www/CAF/certification/Collisions18/13TeV/Legacy_2018/"
        "Cert_314472-325175_13TeV_Legacy2018_Collisions18_JSON.txt",
    )
    # the POG root can be moved (e.g. a local copy of jsonpog-integration) with TMET_POG_ROOT
    config.x.corrections = corrections(
        pog_files(os.environ.get("TMET_POG_ROOT", POG), "2018_UL"),
        jec_prefix="Summer19UL18_V5", jer_prefix="Summer19UL18_JRV2", jet_type="AK4PFchs", electron_year="2018",
    )
    return finish_config(config, os.path.join(HERE, "run2_2018_datasets.yaml"))
