"""Object definitions, skim preselection and the branches the analysis reads.

These values are the same in every campaign (what differs per campaign, such as the b-tag
working point, comes from ``config.campaigns``). The selection code in ``analysis/`` reads
them from ``config.x``; nothing there repeats a number.
"""


def add_selection_values(config, btag_working_point, btag_working_points):
    """The object definitions, STEP 1's and the skim's values; the b jets at the campaign's
    b-tag working point ``btag_working_point`` (its name; ``btag_working_points``: name ->
    threshold), which the b-tag scale factors take too (config.campaigns)."""
    config.x.objects = {
        "muon_tight": {"pt": 30.0, "abseta": 2.4, "id": "Muon_tightId", "iso": 0.15},
        "muon_veto": {"pt": 10.0, "abseta": 2.4, "id": "Muon_looseId", "iso": 0.25},
        "electron_tight": {"pt": 30.0, "abseta": 2.5, "cut_based": 4},
        "electron_veto": {"pt": 10.0, "abseta": 2.5, "cut_based": 1},
        # id_bit 2: tight (the jet ID of analysis.physics.nanoaod); v12_id: JME's correction of the
        # tight (and tight lepton veto) ID that NanoAODv12 stores, from the energy fractions
        "jet": {"pt": 30.0, "abseta": 2.4, "id_bit": 2, "lepton_dr": 0.4, "min_dphi_jets": 4,
                "v12_id": {"transition_abseta": 2.7, "forward_abseta": 3.0, "transition_neHEF_max": 0.99,
                           "forward_neEmEF_max": 0.4, "muEF_max": 0.8, "chEmEF_max": 0.8}},
        # the campaign's working point by name and its threshold; its scale factors are the b-tag
        # corrections' at the same name (config.campaigns)
        "btag": {"branch": "Jet_btagDeepFlavB", "working_point": btag_working_point,
                 "value": btag_working_points[btag_working_point]},
        # the tag's scale-factor uncertainty; the tag's score cut is the tagger's working point
        # (config.x.top_tagger["working_point"], config.campaigns)
        "top": {"tag_uncertainty": 0.05},
        "met": {"recompute_jet_pt": 15.0},
    }
    # STEP 1 (TopCandidates): a preselection looser than the STEP 2 skim, so that STEP 2 does
    # not depend on it (checked, analysis.physics.checks.check_step1_is_looser); the candidate jets (with the jet ID of "jet" above); the trijet mass
    # window; at most max_candidates disjoint triplets kept; and the expressions of the
    # features a top tagger may take, by name, over a triplet's jets b, j1, j2 (pt, eta, phi,
    # mass, btag, index), its trijet and dijet (j1 + j2) four-vectors (pt, eta, phi, mass) and
    # tmet::top's delta_r and delta_phi (C++, docs/configuration.md)
    config.x.top_candidates = {
        "preselection": {"met_min": 150.0, "jet_pt_min": 20.0, "n_jet_min": 2},
        "jets": {"pt": 20.0, "abseta": 2.4, "max": 6},
        "mass_window": [100.0, 300.0],
        "max_candidates": 2,
        "features": {
            "trijet_pt": "trijet.pt",
            "trijet_mass": "trijet.mass",
            "dijet_mass": "dijet.mass",
            "b_btag": "b.btag",
            "j1_btag": "j1.btag",
            "j2_btag": "j2.btag",
            "dr_j1j2": "delta_r(j1, j2)",
            "dr_b_dijet": "delta_r(b, dijet)",
            "b_pt_frac": "b.pt / (b.pt + j1.pt + j2.pt)",
            "j1_pt_frac": "j1.pt / (b.pt + j1.pt + j2.pt)",
        },
    }
    # bins of the b-tag efficiency maps measured on each MC dataset's skims
    config.x.btag_efficiency_binning = {
        "pt": [30.0, 50.0, 70.0, 100.0, 140.0, 200.0, 300.0, 600.0, 1000.0],
        "abseta": [0.0, 0.8, 1.6, 2.4],
    }
    # skim preselection: looser than every category under every shift (checked before any
    # event loop, analysis.physics.checks.check_skim_is_looser): each value at most the
    # categories' (MET, jet count) or the jets' (pt) threshold less its margin below
    config.x.skim = {"met_min": 200.0, "jet_pt_min": 25.0, "n_jet_min": 2}
    # the largest relative change the object shifts and the JER smearing are taken to make to
    # the MET and to a jet's pt before the skim's cuts stop being looser than the categories'
    # (docs/physics.md, "Skim"): type-1 MET moves with the JES of all jets and the unclustered
    # energy, a 30 GeV jet by its resolution (about 15 %) and JES
    config.x.skim_margins = {"met": 0.2, "jet_pt": 0.16}
    # LZ4 level 1: levels >= 4 switch to LZ4-HC, ~35 % slower skims for 4 % smaller files
    config.x.skim_compression = {"algorithm": "LZ4", "level": 1}
    # skims are RNTuples: RDataFrame reads them 10-20 % faster than TTrees in an all-shifts
    # Histograms loop (docs/benchmarks.md); Snapshot's analysis columns stay a TTree
    config.x.skim_format = "RNTuple"
    # every Events branch the selection reads under every shift: the skim keeps exactly these,
    # the branches of the weight shifts (config.shifts) and the campaign's flags and triggers;
    # data files never read the MC-only ones
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
        "mc": ["Jet_hadronFlavour", "MET_MetUnclustEnUpDeltaX", "MET_MetUnclustEnUpDeltaY", "genWeight"],
    }
    # branches that exist only in simulation (a data file must not have them)
    config.x.mc_only_branches = [
        "Jet_hadronFlavour", "Jet_genTopIdx", "Pileup_nTrueInt", "Pileup_nPU", "genWeight", "nLHEScaleWeight", "LHEScaleWeight",
        "nPSWeight", "PSWeight", "L1PreFiringWeight_Nom", "L1PreFiringWeight_Up", "L1PreFiringWeight_Dn",
    ]
