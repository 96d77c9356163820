"""Config ``run3_2022``: real Run 3 2022 NanoAODv12 (v9 branch names but one, other types).

NanoAODv12 stores ``Jet_jetId``, ``Jet_hadronFlavour`` and ``Electron_cutBased`` as
unsigned chars; the analysis kernels are templated on the branch types. Its rho is
``Rho_fixedGridRhoFastjetAll``, which the skim writes under the v9 name, so only the
values below differ from 2018.
"""

import os

import order as od
from scinum import Number

from config import run2_2018

HERE = os.path.dirname(os.path.abspath(__file__))

MET_FILTERS_2022 = [
    "Flag_goodVertices",
    "Flag_globalSuperTightHalo2016Filter",
    "Flag_EcalDeadCellTriggerPrimitiveFilter",
    "Flag_BadPFMuonFilter",
    "Flag_BadPFMuonDzFilter",
    "Flag_hfNoisyHitsFilter",
    "Flag_eeBadScFilter",
    "Flag_ecalBadCalibFilter",
]


def create_config(analysis):
    campaign = od.Campaign("run3_2022_nanov12", 3, ecm=13.6, bx=25)
    config = analysis.add_config(campaign, name="run3_2022", id=3)
    run2_2018.attach_processes(config)
    run2_2018.add_analysis_values(
        config,
        # 2022 eras B-G (pre- and post-EE), 1.4 % uncertainty
        luminosity=Number(34653.0, {"lumi": 0.014j}),
        # DeepJet medium working point of 2022 (pre-EE)
        btag_wp=0.3086,
        met_filters=MET_FILTERS_2022,
        data_only_filters=[],
        triggers=["HLT_PFMETNoMu120_PFMHTNoMu120_IDTight"],
        nano_version=12,
    )
    # NanoAODv12 moved the event energy density (the JER resolution's rho) into its Rho table
    config.x.branch_map = {"fixedGridRhoFastjetAll": "Rho_fixedGridRhoFastjetAll"}
    config.x.blinded_categories = ["sr_0l", "sr_1l"]
    config.x.lumi_mask = os.environ.get(
        "TMET_LUMI_MASK_2022",
        "/eos/user/c/cmsdqm/www/CAF/certification/Collisions22/Cert_Collisions2022_355100_362760_Golden.json",
    )
    config.x.corrections = run2_2018.corrections(
        run2_2018.pog_files(os.environ.get("TMET_POG_ROOT", run2_2018.POG), "2022_Summer22"),
        jec_prefix="Summer22_22Sep2023_V2", jer_prefix="Summer22_22Sep2023_JRV1", jet_type="AK4PFPuppi",
        electron_year="2022Re-recoBCD", electron_name="Electron-ID-SF",
        pileup_name="Collisions2022_355100_357900_eraBCD_GoldenJson", btag_light="deepJet_light",
    )
    return run2_2018.finish_config(config, os.path.join(HERE, "run3_2022_datasets.yaml"))
