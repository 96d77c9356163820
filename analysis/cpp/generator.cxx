// Synthetic NanoAOD writer of tmet: NanoAODv9 branch names, types and leaf-array layout.
//
// A parametric toy, not an event generator: every process is described by a GenModel
// (MET spectrum, lepton, b-jet, jet and hadronic-top multiplicities, kinematic shapes)
// so that each process populates the categories it populates in a real analysis. A
// hadronically decaying top is decayed (t -> b W, W -> q q', isotropic in each rest frame)
// into three jets whose masses a top tagger can tell from combinatorics; the files hold no
// top candidates (STEP 1, TopCandidates, makes them) but, in simulation, the truth of each
// jet's top (Jet_genTopIdx: the index of the top whose decay made it, -1 otherwise), which
// only the tagger's training reads.
// Written in C++ with TRandom3 so that the same seed gives the same arrays on every
// platform; compiled with optimisation by ACLiC (root_setup.compile), which makes it
// several times faster than the interpreter's JIT.
#ifndef TMET_GENERATOR_H
#define TMET_GENERATOR_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "Compression.h"
#include "Rtypes.h"
#include "TFile.h"
#include "TLeaf.h"
#include "TLorentzVector.h"
#include "TMath.h"
#include "TRandom3.h"
#include "TTree.h"

namespace tmet {
namespace gen {

struct GenModel {
    double neg_weight_fraction = 0.0;
    double gen_weight = 1.0;
    double met_min = 150.0;
    double met_slope = 100.0;
    double met_resolution = 0.1;
    double lepton_multiplicity[3] = {1.0, 0.0, 0.0};
    double lepton_pt_slope = 50.0;
    double lepton_met_dphi = 0.0;
    double fake_lepton_rate = 0.1;
    double b_multiplicity[3] = {1.0, 0.0, 0.0};
    double light_jets_mean = 2.5;
    double jet_pt_slope = 70.0;
    double jet_recoil_width = 1.5;
    double hadronic_tops[3] = {1.0, 0.0, 0.0};
    double top_pt_slope = 150.0;
};

struct GenCampaign {
    double pileup_mean = 32.0;
    double pileup_sigma = 12.0;
    double btag_wp = 0.2783;
    unsigned int run_min = 315252;
    unsigned int run_max = 325175;
};

struct GenResult {
    Long64_t n_events = 0;
    double sumw = 0.0;
    double sumw2 = 0.0;
    double lhe_scale_sumw[9] = {};  // sum of genWeight x LHEScaleWeight[i]
};

constexpr int kMaxLep = 8;
constexpr int kMaxJet = 48;

struct Lepton {
    float pt, eta, phi;
    int charge;
    bool tight, loose;
    float iso;
    int cut_based;
};

struct Jet {
    float pt, eta, phi, mass, btag;
    int flavour, jet_id;
    int top = -1;  // the hadronic top whose decay made it (-1: none)
};

// the Events-tree buffers, booked as NanoAOD leaf arrays with their counters
struct EventBuffers {
    UInt_t run, luminosityBlock;
    ULong64_t event;
    UInt_t nMuon;
    Float_t Muon_pt[kMaxLep], Muon_eta[kMaxLep], Muon_phi[kMaxLep], Muon_mass[kMaxLep], Muon_pfRelIso04_all[kMaxLep];
    Int_t Muon_charge[kMaxLep];
    Bool_t Muon_tightId[kMaxLep], Muon_looseId[kMaxLep];
    UInt_t nElectron;
    Float_t Electron_pt[kMaxLep], Electron_eta[kMaxLep], Electron_phi[kMaxLep], Electron_mass[kMaxLep],
        Electron_deltaEtaSC[kMaxLep];
    Int_t Electron_charge[kMaxLep], Electron_cutBased[kMaxLep];
    UInt_t nJet;
    Float_t Jet_pt[kMaxJet], Jet_eta[kMaxJet], Jet_phi[kMaxJet], Jet_mass[kMaxJet], Jet_btagDeepFlavB[kMaxJet];
    Int_t Jet_jetId[kMaxJet], Jet_hadronFlavour[kMaxJet], Jet_genTopIdx[kMaxJet];
    // v12 and later: unsigned-char IDs and flavours, energy fractions and multiplicities
    UChar_t Jet_jetId_v12[kMaxJet], Jet_hadronFlavour_v12[kMaxJet], Electron_cutBased_v12[kMaxLep];
    Float_t Jet_chHEF[kMaxJet], Jet_neHEF[kMaxJet], Jet_chEmEF[kMaxJet], Jet_neEmEF[kMaxJet], Jet_muEF[kMaxJet];
    UChar_t Jet_chMultiplicity[kMaxJet], Jet_neMultiplicity[kMaxJet], Jet_nConstituents[kMaxJet];
    Float_t MET_pt, MET_phi, MET_sumEt, MET_MetUnclustEnUpDeltaX, MET_MetUnclustEnUpDeltaY;
    // v15: PUPPI MET with its unclustered-energy variations
    Float_t PuppiMET_ptUnclusteredUp, PuppiMET_phiUnclusteredUp, PuppiMET_ptUnclusteredDown,
        PuppiMET_phiUnclusteredDown;
    Float_t fixedGridRhoFastjetAll;
    Int_t PV_npvs, PV_npvsGood;
    Float_t Pileup_nTrueInt;
    Int_t Pileup_nPU;
    Float_t genWeight;
    UInt_t nLHEScaleWeight, nPSWeight;
    Float_t LHEScaleWeight[9], PSWeight[4];
    Float_t L1PreFiringWeight_Nom, L1PreFiringWeight_Up, L1PreFiringWeight_Dn;
    Bool_t flags[10];
    Bool_t triggers[4];
};

inline const char* kFlags[10] = {
    "Flag_goodVertices", "Flag_globalSuperTightHalo2016Filter", "Flag_HBHENoiseFilter",
    "Flag_HBHENoiseIsoFilter", "Flag_EcalDeadCellTriggerPrimitiveFilter", "Flag_BadPFMuonFilter",
    "Flag_BadPFMuonDzFilter", "Flag_hfNoisyHitsFilter", "Flag_eeBadScFilter", "Flag_ecalBadCalibFilter"};
inline const double kFlagPass[10] = {0.9995, 0.999, 0.999, 0.999, 0.9995, 0.9995, 0.9995, 0.9995, 0.9998, 0.9995};
inline const char* kTriggers[4] = {
    "HLT_PFMETNoMu120_PFMHTNoMu120_IDTight", "HLT_PFMET120_PFMHT120_IDTight", "HLT_IsoMu24",
    "HLT_Ele32_WPTight_Gsf"};

// book the branches of NanoAOD version nano (9, 12 or 15): v12 and later name rho
// Rho_fixedGridRhoFastjetAll, store IDs and flavours as unsigned chars and the jet energy
// fractions; v15 drops Jet_jetId, adds the jet multiplicities and has PUPPI MET, not MET
inline void book(TTree& t, EventBuffers& b, bool is_data, int nano) {
    const bool v12 = nano >= 12, v15 = nano >= 15;
    t.Branch("run", &b.run, "run/i");
    t.Branch("luminosityBlock", &b.luminosityBlock, "luminosityBlock/i");
    t.Branch("event", &b.event, "event/l");
    t.Branch("nMuon", &b.nMuon, "nMuon/i");
    t.Branch("Muon_pt", b.Muon_pt, "Muon_pt[nMuon]/F");
    t.Branch("Muon_eta", b.Muon_eta, "Muon_eta[nMuon]/F");
    t.Branch("Muon_phi", b.Muon_phi, "Muon_phi[nMuon]/F");
    t.Branch("Muon_mass", b.Muon_mass, "Muon_mass[nMuon]/F");
    t.Branch("Muon_charge", b.Muon_charge, "Muon_charge[nMuon]/I");
    t.Branch("Muon_tightId", b.Muon_tightId, "Muon_tightId[nMuon]/O");
    t.Branch("Muon_looseId", b.Muon_looseId, "Muon_looseId[nMuon]/O");
    t.Branch("Muon_pfRelIso04_all", b.Muon_pfRelIso04_all, "Muon_pfRelIso04_all[nMuon]/F");
    t.Branch("nElectron", &b.nElectron, "nElectron/i");
    t.Branch("Electron_pt", b.Electron_pt, "Electron_pt[nElectron]/F");
    t.Branch("Electron_eta", b.Electron_eta, "Electron_eta[nElectron]/F");
    t.Branch("Electron_phi", b.Electron_phi, "Electron_phi[nElectron]/F");
    t.Branch("Electron_mass", b.Electron_mass, "Electron_mass[nElectron]/F");
    t.Branch("Electron_charge", b.Electron_charge, "Electron_charge[nElectron]/I");
    if (v12) t.Branch("Electron_cutBased", b.Electron_cutBased_v12, "Electron_cutBased[nElectron]/b");
    else t.Branch("Electron_cutBased", b.Electron_cutBased, "Electron_cutBased[nElectron]/I");
    t.Branch("Electron_deltaEtaSC", b.Electron_deltaEtaSC, "Electron_deltaEtaSC[nElectron]/F");
    t.Branch("nJet", &b.nJet, "nJet/i");
    t.Branch("Jet_pt", b.Jet_pt, "Jet_pt[nJet]/F");
    t.Branch("Jet_eta", b.Jet_eta, "Jet_eta[nJet]/F");
    t.Branch("Jet_phi", b.Jet_phi, "Jet_phi[nJet]/F");
    t.Branch("Jet_mass", b.Jet_mass, "Jet_mass[nJet]/F");
    if (!v12) t.Branch("Jet_jetId", b.Jet_jetId, "Jet_jetId[nJet]/I");
    else if (!v15) t.Branch("Jet_jetId", b.Jet_jetId_v12, "Jet_jetId[nJet]/b");
    t.Branch("Jet_btagDeepFlavB", b.Jet_btagDeepFlavB, "Jet_btagDeepFlavB[nJet]/F");
    if (!is_data && v12) t.Branch("Jet_hadronFlavour", b.Jet_hadronFlavour_v12, "Jet_hadronFlavour[nJet]/b");
    else if (!is_data) t.Branch("Jet_hadronFlavour", b.Jet_hadronFlavour, "Jet_hadronFlavour[nJet]/I");
    if (!is_data) t.Branch("Jet_genTopIdx", b.Jet_genTopIdx, "Jet_genTopIdx[nJet]/I");
    if (v12) {
        t.Branch("Jet_chHEF", b.Jet_chHEF, "Jet_chHEF[nJet]/F");
        t.Branch("Jet_neHEF", b.Jet_neHEF, "Jet_neHEF[nJet]/F");
        t.Branch("Jet_chEmEF", b.Jet_chEmEF, "Jet_chEmEF[nJet]/F");
        t.Branch("Jet_neEmEF", b.Jet_neEmEF, "Jet_neEmEF[nJet]/F");
        t.Branch("Jet_muEF", b.Jet_muEF, "Jet_muEF[nJet]/F");
        t.Branch("Jet_nConstituents", b.Jet_nConstituents, "Jet_nConstituents[nJet]/b");
    }
    if (v15) {
        t.Branch("Jet_chMultiplicity", b.Jet_chMultiplicity, "Jet_chMultiplicity[nJet]/b");
        t.Branch("Jet_neMultiplicity", b.Jet_neMultiplicity, "Jet_neMultiplicity[nJet]/b");
    }
    const std::string met = v15 ? "PuppiMET" : "MET";
    t.Branch((met + "_pt").c_str(), &b.MET_pt, (met + "_pt/F").c_str());
    t.Branch((met + "_phi").c_str(), &b.MET_phi, (met + "_phi/F").c_str());
    t.Branch((met + "_sumEt").c_str(), &b.MET_sumEt, (met + "_sumEt/F").c_str());
    if (v15) {
        t.Branch("PuppiMET_ptUnclusteredUp", &b.PuppiMET_ptUnclusteredUp, "PuppiMET_ptUnclusteredUp/F");
        t.Branch("PuppiMET_phiUnclusteredUp", &b.PuppiMET_phiUnclusteredUp, "PuppiMET_phiUnclusteredUp/F");
        t.Branch("PuppiMET_ptUnclusteredDown", &b.PuppiMET_ptUnclusteredDown, "PuppiMET_ptUnclusteredDown/F");
        t.Branch("PuppiMET_phiUnclusteredDown", &b.PuppiMET_phiUnclusteredDown, "PuppiMET_phiUnclusteredDown/F");
    } else {
        t.Branch("MET_MetUnclustEnUpDeltaX", &b.MET_MetUnclustEnUpDeltaX, "MET_MetUnclustEnUpDeltaX/F");
        t.Branch("MET_MetUnclustEnUpDeltaY", &b.MET_MetUnclustEnUpDeltaY, "MET_MetUnclustEnUpDeltaY/F");
    }
    t.Branch(v12 ? "Rho_fixedGridRhoFastjetAll" : "fixedGridRhoFastjetAll", &b.fixedGridRhoFastjetAll,
             v12 ? "Rho_fixedGridRhoFastjetAll/F" : "fixedGridRhoFastjetAll/F");
    t.Branch("PV_npvs", &b.PV_npvs, "PV_npvs/I");
    t.Branch("PV_npvsGood", &b.PV_npvsGood, "PV_npvsGood/I");
    if (!is_data) {
        t.Branch("Pileup_nTrueInt", &b.Pileup_nTrueInt, "Pileup_nTrueInt/F");
        t.Branch("Pileup_nPU", &b.Pileup_nPU, "Pileup_nPU/I");
        t.Branch("genWeight", &b.genWeight, "genWeight/F");
        t.Branch("nLHEScaleWeight", &b.nLHEScaleWeight, "nLHEScaleWeight/i");
        t.Branch("LHEScaleWeight", b.LHEScaleWeight, "LHEScaleWeight[nLHEScaleWeight]/F");
        t.Branch("nPSWeight", &b.nPSWeight, "nPSWeight/i");
        t.Branch("PSWeight", b.PSWeight, "PSWeight[nPSWeight]/F");
        t.Branch("L1PreFiringWeight_Nom", &b.L1PreFiringWeight_Nom, "L1PreFiringWeight_Nom/F");
        t.Branch("L1PreFiringWeight_Up", &b.L1PreFiringWeight_Up, "L1PreFiringWeight_Up/F");
        t.Branch("L1PreFiringWeight_Dn", &b.L1PreFiringWeight_Dn, "L1PreFiringWeight_Dn/F");
    }
    for (int i = 0; i < 10; ++i) t.Branch(kFlags[i], &b.flags[i], (std::string(kFlags[i]) + "/O").c_str());
    for (int i = 0; i < 4; ++i) t.Branch(kTriggers[i], &b.triggers[i], (std::string(kTriggers[i]) + "/O").c_str());
}

// energy fractions and multiplicities of a jet that give it the AK4 PUPPI jet ID of the
// 13.6 TeV definition its drawn Jet_jetId says (tight: bit 2, lepton veto: bit 4; beyond
// |eta| 2.7 the veto adds nothing), and NanoAODv12's stored flag: the same definition with
// its looser neutral cuts between |eta| 2.7 and 3.0 (neHEF < 0.9999) and beyond (neEmEF < 0.9)
struct JetComposition {
    float ch_hef, ne_hef, ch_emef, ne_emef, mu_ef;
    int ch_mult, ne_mult, stored_v12;

    static bool tight(const JetComposition& c, double abseta, bool v12) {
        if (abseta <= 2.6)
            return c.ch_hef > 0.01 && c.ne_hef < 0.99 && c.ne_emef < 0.9 && c.ch_mult >= 1 && c.ch_mult + c.ne_mult >= 2;
        if (abseta <= 2.7) return c.ne_hef < 0.9 && c.ne_emef < 0.99;
        if (abseta <= 3.0) return c.ne_hef < (v12 ? 0.9999 : 0.99);
        return c.ne_emef < (v12 ? 0.9 : 0.4) && c.ne_mult >= 2;
    }

    static JetComposition draw(TRandom3& r, double abseta, int jet_id) {
        JetComposition c{static_cast<float>(0.05 + 0.5 * r.Rndm()), static_cast<float>(0.3 * r.Rndm()),
                         static_cast<float>(0.3 * r.Rndm()), static_cast<float>(0.3 * r.Rndm()),
                         static_cast<float>(0.05 * r.Rndm()), 1 + static_cast<int>(r.Poisson(8)),
                         2 + static_cast<int>(r.Poisson(5)), 0};
        if (!(jet_id & 2)) {  // break the tight ID where it is defined
            if (abseta <= 2.6) c.ne_hef = 0.995 + 0.004 * r.Rndm();
            else if (abseta <= 2.7) c.ne_hef = 0.92 + 0.06 * r.Rndm();
            else if (abseta <= 3.0) c.ne_hef = 0.992 + 0.007 * r.Rndm();
            else c.ne_emef = 0.45 + 0.4 * r.Rndm();
        } else if (!(jet_id & 4) && abseta <= 2.7) {
            c.mu_ef = 0.82 + 0.15 * r.Rndm();
        }
        const bool stored_tight = tight(c, abseta, true);
        c.stored_v12 = 2 * stored_tight + 4 * (stored_tight && (abseta > 2.7 || (c.mu_ef < 0.8 && c.ch_emef < 0.8)));
        return c;
    }
};

class EventMaker {
public:
    // the jets' energy composition (v12 and later) comes from a stream of its own, so that
    // every layout of a seed holds the same events
    EventMaker(const GenCampaign& campaign, ULong64_t seed, int nano)
        : campaign_(campaign), nano_(nano), rng_(0), composition_rng_(0) {
        // TRandom3 takes a 32-bit seed; fold the 64-bit one so that nearby seeds differ
        rng_.SetSeed(static_cast<UInt_t>((seed * 0x9E3779B97F4A7C15ULL) >> 32) | 1u);
        composition_rng_.SetSeed(static_cast<UInt_t>(((seed + 1) * 0xBF58476D1CE4E5B9ULL) >> 32) | 1u);
    }

    // fill b with one event of model m; returns the generator weight (0 for data)
    double make(const GenModel& m, bool is_data, EventBuffers& b) {
        const double met_true = m.met_min + rng_.Exp(m.met_slope);
        const double met_phi = uniform_phi();
        double met = met_true * std::max(0.3, rng_.Gaus(1.0, m.met_resolution));

        std::vector<Lepton> muons, electrons;
        const int n_prompt = draw_discrete(m.lepton_multiplicity);
        std::vector<Jet> jets;
        for (int i = 0; i < n_prompt; ++i) {
            const bool is_muon = rng_.Rndm() < 0.5;
            Lepton l;
            l.pt = 15.0 + rng_.Exp(m.lepton_pt_slope);
            l.eta = clipped_gaus(1.1, 2.6);
            l.phi = m.lepton_met_dphi > 0 ? wrap(met_phi + rng_.Gaus(0.0, m.lepton_met_dphi)) : uniform_phi();
            l.charge = rng_.Rndm() < 0.5 ? -1 : 1;
            l.iso = rng_.Exp(0.025);
            l.tight = rng_.Rndm() < 0.96;
            l.loose = l.tight || rng_.Rndm() < 0.99;
            const double u = rng_.Rndm();
            l.cut_based = u < 0.82 ? 4 : u < 0.90 ? 3 : u < 0.95 ? 2 : u < 0.98 ? 1 : 0;
            (is_muon ? muons : electrons).push_back(l);
            // a prompt lepton is also clustered into a jet: the analysis must clean it away
            if (rng_.Rndm() < (is_muon ? 0.4 : 0.8)) {
                jets.push_back({static_cast<float>(l.pt * (1.0 + rng_.Exp(0.1))),
                                static_cast<float>(l.eta + rng_.Gaus(0.0, 0.02)),
                                wrap(l.phi + rng_.Gaus(0.0, 0.02)), static_cast<float>(l.pt * 0.05),
                                static_cast<float>(0.05 * rng_.Rndm()), 0, 2});
            }
        }
        if (rng_.Rndm() < m.fake_lepton_rate) {
            const bool is_muon = rng_.Rndm() < 0.5;
            Lepton l;
            l.pt = 10.0 + rng_.Exp(15.0);
            l.eta = clipped_gaus(1.3, 2.6);
            l.phi = uniform_phi();
            l.charge = rng_.Rndm() < 0.5 ? -1 : 1;
            l.iso = 0.05 + rng_.Exp(0.3);
            l.loose = rng_.Rndm() < 0.6;
            l.tight = l.loose && rng_.Rndm() < 0.5;
            const double u = rng_.Rndm();
            l.cut_based = u < 0.4 ? 1 : u < 0.6 ? 2 : u < 0.7 ? 3 : u < 0.75 ? 4 : 0;
            (is_muon ? muons : electrons).push_back(l);
        }

        // hadronic tops first: their b jets count among the event's b jets
        const int n_top = draw_discrete(m.hadronic_tops);
        for (int t = 0; t < n_top; ++t) decay_top(m, met_phi, t, jets);
        const int n_b = std::max(0, draw_discrete(m.b_multiplicity) - n_top);
        const int n_light = static_cast<int>(rng_.Poisson(m.light_jets_mean));
        for (int i = 0; i < n_b + n_light; ++i) {
            const bool is_b = i < n_b;
            Jet j;
            j.pt = is_b ? 30.0 + rng_.Exp(1.2 * m.jet_pt_slope) : 20.0 + rng_.Exp(m.jet_pt_slope);
            j.eta = is_b ? clipped_gaus(1.1, 4.7) : clipped_gaus(1.5, 4.7);
            j.phi = m.jet_recoil_width > 0 ? wrap(met_phi + TMath::Pi() + rng_.Gaus(0.0, m.jet_recoil_width))
                                           : uniform_phi();
            j.mass = j.pt * (0.08 + rng_.Exp(0.05));
            j.flavour = is_b ? 5 : (rng_.Rndm() < 0.12 ? 4 : 0);
            const double u = rng_.Rndm();
            j.jet_id = u < 0.96 ? 6 : u < 0.99 ? 2 : 0;
            j.btag = btag_score(j);
            jets.push_back(j);
        }

        fill_leptons(muons, electrons, b);
        fill_jets(jets, b);

        double ht = 0.0;
        for (const auto& j : jets) ht += j.pt;
        b.MET_pt = met;
        b.MET_phi = met_phi;
        b.MET_sumEt = ht + 300.0 + rng_.Exp(300.0);
        b.MET_MetUnclustEnUpDeltaX = rng_.Gaus(0.0, 10.0);
        b.MET_MetUnclustEnUpDeltaY = rng_.Gaus(0.0, 10.0);
        const double mx = met * std::cos(met_phi), my = met * std::sin(met_phi);
        const double dx = b.MET_MetUnclustEnUpDeltaX, dy = b.MET_MetUnclustEnUpDeltaY;
        b.PuppiMET_ptUnclusteredUp = std::hypot(mx + dx, my + dy);
        b.PuppiMET_phiUnclusteredUp = std::atan2(my + dy, mx + dx);
        b.PuppiMET_ptUnclusteredDown = std::hypot(mx - dx, my - dy);
        b.PuppiMET_phiUnclusteredDown = std::atan2(my - dy, mx - dx);

        double n_true;
        do { n_true = rng_.Gaus(campaign_.pileup_mean, campaign_.pileup_sigma); } while (n_true < 0 || n_true >= 100);
        b.Pileup_nTrueInt = n_true;
        b.Pileup_nPU = static_cast<Int_t>(rng_.Poisson(n_true));
        b.PV_npvs = 1 + static_cast<Int_t>(rng_.Poisson(0.7 * n_true));
        b.PV_npvsGood = b.PV_npvs;
        b.fixedGridRhoFastjetAll = std::max(0.0, 0.55 * n_true + rng_.Gaus(0.0, 2.0));

        for (int i = 0; i < 10; ++i) b.flags[i] = rng_.Rndm() < kFlagPass[i];
        fill_triggers(b, muons, electrons);

        double weight = 0.0;
        if (!is_data) {
            weight = (rng_.Rndm() < m.neg_weight_fraction ? -1.0 : 1.0) * m.gen_weight;
            b.genWeight = weight;
            fill_theory_weights(b);
            fill_prefiring_weights(b);
        }
        return weight;
    }

private:
    // A hadronic top recoiling against the MET, decayed t -> b W, W -> q q' (isotropically in
    // each rest frame, Gaussian top and W line shapes), each quark a jet: its momentum smeared
    // by the jet resolution, a jet's mass; a jet out of acceptance (pt < 15, |eta| > 4.7) is lost
    void decay_top(const GenModel& m, double met_phi, int index, std::vector<Jet>& jets) {
        TLorentzVector top;
        top.SetPtEtaPhiM(80.0 + rng_.Exp(m.top_pt_slope), clipped_gaus(1.2, 2.8),
                         wrap(met_phi + TMath::Pi() + rng_.Gaus(0.0, 0.9)), rng_.Gaus(172.5, 1.5));
        const double mw = rng_.Gaus(80.4, 2.0), mb = 4.8;
        TLorentzVector b, w, q1, q2;
        two_body(top.M(), mb, mw, b, w);
        two_body(mw, 0.0, 0.0, q1, q2);
        q1.Boost(w.BoostVector());
        q2.Boost(w.BoostVector());
        for (auto* v : {&b, &q1, &q2}) v->Boost(top.BoostVector());
        const bool charm = rng_.Rndm() < 0.5;  // W -> c s in half the decays
        int k = 0;
        for (const auto* v : {&b, &q1, &q2}) {
            const int flavour = k == 0 ? 5 : (k == 1 && charm ? 4 : 0);
            ++k;
            const double pt = v->Pt() * std::max(0.5, rng_.Gaus(1.0, 0.10));
            if (pt < 15.0 || std::abs(v->Eta()) > 4.7) continue;
            Jet j;
            j.pt = pt;
            j.eta = v->Eta();
            j.phi = v->Phi();
            j.mass = pt * (0.08 + rng_.Exp(0.05));
            j.flavour = flavour;
            const double u = rng_.Rndm();
            j.jet_id = u < 0.96 ? 6 : u < 0.99 ? 2 : 0;
            j.btag = btag_score(j);
            j.top = index;
            jets.push_back(j);
        }
    }
    // the decay of a mass-``m`` particle at rest into masses m1, m2, back to back along an
    // isotropic direction
    void two_body(double m, double m1, double m2, TLorentzVector& p1, TLorentzVector& p2) {
        const double p = std::sqrt(std::max(0.0, (m * m - (m1 + m2) * (m1 + m2)) * (m * m - (m1 - m2) * (m1 - m2)))) / (2 * m);
        const double cos_theta = rng_.Uniform(-1.0, 1.0), phi = uniform_phi();
        const double sin_theta = std::sqrt(1.0 - cos_theta * cos_theta);
        const TVector3 direction(sin_theta * std::cos(phi), sin_theta * std::sin(phi), cos_theta);
        p1.SetVectM(p * direction, m1);
        p2.SetVectM(-p * direction, m2);
    }
    double uniform_phi() { return rng_.Uniform(-TMath::Pi(), TMath::Pi()); }
    static float wrap(double phi) { return TVector2Phi(phi); }
    static double TVector2Phi(double phi) {
        while (phi >= TMath::Pi()) phi -= 2 * TMath::Pi();
        while (phi < -TMath::Pi()) phi += 2 * TMath::Pi();
        return phi;
    }
    double clipped_gaus(double sigma, double limit) {
        double x;
        do { x = rng_.Gaus(0.0, sigma); } while (std::abs(x) >= limit);
        return x;
    }
    int draw_discrete(const double* p) {
        const double u = rng_.Rndm() * (p[0] + p[1] + p[2]);
        return u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
    }
    float btag_score(const Jet& j) {
        const double wp = campaign_.btag_wp;
        const double eff = j.flavour == 5 ? 0.80 - 0.05 * std::abs(j.eta) / 2.4 : j.flavour == 4 ? 0.15 : 0.012;
        if (rng_.Rndm() < eff) return std::min(0.9999, wp + (1.0 - wp) * std::pow(rng_.Rndm(), 0.3));
        return wp * std::pow(rng_.Rndm(), j.flavour == 5 ? 0.5 : 3.0);
    }
    void fill_leptons(std::vector<Lepton>& mu, std::vector<Lepton>& el, EventBuffers& b) {
        auto by_pt = [](const Lepton& x, const Lepton& y) { return x.pt > y.pt; };
        std::sort(mu.begin(), mu.end(), by_pt);
        std::sort(el.begin(), el.end(), by_pt);
        b.nMuon = std::min<int>(mu.size(), kMaxLep);
        for (UInt_t i = 0; i < b.nMuon; ++i) {
            b.Muon_pt[i] = mu[i].pt; b.Muon_eta[i] = mu[i].eta; b.Muon_phi[i] = mu[i].phi;
            b.Muon_mass[i] = 0.10566; b.Muon_charge[i] = mu[i].charge; b.Muon_tightId[i] = mu[i].tight;
            b.Muon_looseId[i] = mu[i].loose; b.Muon_pfRelIso04_all[i] = mu[i].iso;
        }
        b.nElectron = std::min<int>(el.size(), kMaxLep);
        for (UInt_t i = 0; i < b.nElectron; ++i) {
            b.Electron_pt[i] = el[i].pt; b.Electron_eta[i] = el[i].eta; b.Electron_phi[i] = el[i].phi;
            b.Electron_mass[i] = 0.000511; b.Electron_charge[i] = el[i].charge;
            b.Electron_cutBased[i] = el[i].cut_based; b.Electron_deltaEtaSC[i] = rng_.Gaus(0.0, 0.01);
            b.Electron_cutBased_v12[i] = static_cast<UChar_t>(el[i].cut_based);
        }
    }
    void fill_jets(std::vector<Jet>& jets, EventBuffers& b) {
        std::sort(jets.begin(), jets.end(), [](const Jet& x, const Jet& y) { return x.pt > y.pt; });
        b.nJet = std::min<int>(jets.size(), kMaxJet);
        for (UInt_t i = 0; i < b.nJet; ++i) {
            b.Jet_pt[i] = jets[i].pt; b.Jet_eta[i] = jets[i].eta; b.Jet_phi[i] = jets[i].phi;
            b.Jet_mass[i] = jets[i].mass; b.Jet_btagDeepFlavB[i] = jets[i].btag;
            b.Jet_jetId[i] = jets[i].jet_id; b.Jet_hadronFlavour[i] = jets[i].flavour; b.Jet_genTopIdx[i] = jets[i].top;
            b.Jet_hadronFlavour_v12[i] = static_cast<UChar_t>(jets[i].flavour);
            if (nano_ < 12) continue;
            const auto c = JetComposition::draw(composition_rng_, std::abs(jets[i].eta), jets[i].jet_id);
            b.Jet_chHEF[i] = c.ch_hef; b.Jet_neHEF[i] = c.ne_hef; b.Jet_chEmEF[i] = c.ch_emef;
            b.Jet_neEmEF[i] = c.ne_emef; b.Jet_muEF[i] = c.mu_ef;
            b.Jet_chMultiplicity[i] = static_cast<UChar_t>(std::min(c.ch_mult, 255));
            b.Jet_neMultiplicity[i] = static_cast<UChar_t>(std::min(c.ne_mult, 255));
            b.Jet_nConstituents[i] = static_cast<UChar_t>(std::min(c.ch_mult + c.ne_mult, 255));
            b.Jet_jetId_v12[i] = static_cast<UChar_t>(c.stored_v12);
        }
    }
    void fill_triggers(EventBuffers& b, const std::vector<Lepton>& mu, const std::vector<Lepton>& el) {
        double px = b.MET_pt * std::cos(b.MET_phi), py = b.MET_pt * std::sin(b.MET_phi);
        bool iso_mu = false, tight_el = false;
        for (const auto& m : mu) {
            if (m.loose) { px += m.pt * std::cos(m.phi); py += m.pt * std::sin(m.phi); }
            iso_mu |= m.tight && m.iso < 0.15 && m.pt > 26;
        }
        for (const auto& e : el) tight_el |= e.cut_based >= 4 && e.pt > 35;
        auto turn_on = [](double x, double thr) { return 0.99 * 0.5 * (1.0 + std::erf((x - thr) / 50.0)); };
        b.triggers[0] = rng_.Rndm() < turn_on(std::hypot(px, py), 180.0);
        b.triggers[1] = rng_.Rndm() < turn_on(b.MET_pt, 190.0);
        b.triggers[2] = iso_mu && rng_.Rndm() < 0.92;
        b.triggers[3] = tight_el && rng_.Rndm() < 0.85;
    }
    void fill_theory_weights(EventBuffers& b) {
        // LHEScaleWeight[3 * iR + iF] with muR, muF in (0.5, 1, 2); PSWeight [ISR=2, FSR=2, ISR=0.5, FSR=0.5]
        const double a_r = 0.10 * (1.0 + 0.3 * rng_.Gaus(0.0, 1.0));
        const double a_f = 0.04 * (1.0 + 0.3 * rng_.Gaus(0.0, 1.0));
        const double r[3] = {1.0 + 1.2 * a_r, 1.0, 1.0 - a_r};
        const double f[3] = {1.0 + 1.2 * a_f, 1.0, 1.0 - a_f};
        b.nLHEScaleWeight = 9;
        for (int i = 0; i < 9; ++i) b.LHEScaleWeight[i] = r[i / 3] * f[i % 3];
        const double isr = 0.06 * (1.0 + 0.5 * rng_.Gaus(0.0, 1.0));
        const double fsr = 0.03 * (1.0 + 0.5 * rng_.Gaus(0.0, 1.0));
        b.nPSWeight = 4;
        b.PSWeight[0] = 1.0 + isr;
        b.PSWeight[1] = 1.0 - fsr;
        b.PSWeight[2] = 1.0 - 0.9 * isr;
        b.PSWeight[3] = 1.0 + fsr;
    }

    // L1 pre-firing weights as NanoAOD has them (the probability that no jet of the ECAL
    // endcaps, 2 < |eta| < 3, pre-fired; up and down: that probability 20 % larger and
    // smaller), from the jets alone (no random number: the events stay those of the seed)
    static void fill_prefiring_weights(EventBuffers& b) {
        double nominal = 1.0, up = 1.0, down = 1.0;
        for (UInt_t i = 0; i < b.nJet; ++i) {
            const double abseta = std::abs(b.Jet_eta[i]);
            if (abseta < 2.0 || abseta > 3.0 || b.Jet_pt[i] < 20.0) continue;
            const double p = 0.04 * std::min(1.0, b.Jet_pt[i] / 500.0);
            nominal *= 1.0 - p;
            up *= 1.0 - 1.2 * p;
            down *= 1.0 - 0.8 * p;
        }
        b.L1PreFiringWeight_Nom = nominal;
        b.L1PreFiringWeight_Up = up;
        b.L1PreFiringWeight_Dn = down;
    }

    GenCampaign campaign_;
    int nano_;
    TRandom3 rng_, composition_rng_;
};

// NanoAOD's stored precision of a float branch (mantissa bits kept; -1: all), as CMSSW's
// NanoAOD tables set it (PhysicsTools/NanoAOD: common_cff.py for the kinematics, jets_cff.py,
// muons_cff.py, met_cff.py for the rest): pt in full, eta and phi 12 bits, masses 10 bits,
// discriminants, isolation, energy fractions and MET's sums and deltas 10 bits; weights,
// rho and the pileup in full
inline int nano_precision_bits(const std::string& branch) {
    auto ends = [&](const char* suffix) {
        const std::string s(suffix);
        return branch.size() >= s.size() && branch.compare(branch.size() - s.size(), s.size(), s) == 0;
    };
    if (ends("_eta") || ends("_phi")) return 12;
    if (ends("_mass") || ends("_btagDeepFlavB") || ends("_pfRelIso04_all") || ends("_score") || ends("EF") ||
        ends("_sumEt") || ends("_deltaEtaSC") || branch.find("MetUnclustEnUpDelta") != std::string::npos ||
        branch.find("Unclustered") != std::string::npos)
        return 10;
    return -1;
}

// x rounded to ``bits`` mantissa bits (to nearest, ties away from zero), as NanoAOD stores it
inline float reduce_mantissa(float x, int bits) {
    if (bits < 0 || bits >= 23 || !std::isfinite(x)) return x;
    const uint32_t shift = 23 - bits;
    uint32_t i;
    std::memcpy(&i, &x, sizeof i);
    i += 1u << (shift - 1);  // a carry into the exponent is the correct rounding up
    i &= ~((1u << shift) - 1u);
    std::memcpy(&x, &i, sizeof x);
    return x;
}

// every float leaf of ``tree`` that NanoAOD stores with reduced precision: (values, count
// of entries or nullptr for a scalar, bits)
struct RoundedLeaf {
    float* values;
    const UInt_t* count;
    int bits;
};

inline std::vector<RoundedLeaf> rounded_leaves(TTree& tree) {
    std::vector<RoundedLeaf> out;
    for (auto* object : *tree.GetListOfLeaves()) {
        auto* leaf = static_cast<TLeaf*>(object);
        const int bits = nano_precision_bits(leaf->GetName());
        if (std::string(leaf->GetTypeName()) != "Float_t" || bits < 0) continue;
        const TLeaf* count = leaf->GetLeafCount();
        out.push_back({static_cast<float*>(leaf->GetValuePointer()),
                       count ? static_cast<const UInt_t*>(count->GetValuePointer()) : nullptr, bits});
    }
    return out;
}

// Write one NanoAOD file (layout of version nano) with counts[i] events of models[i]
// (shuffled when several, as in data); the Runs tree of MC holds, as in NanoAOD, the count and weight sums of the events
// written (a generator filter efficiency goes with the cross section, not into Runs).
inline GenResult write_file(const std::string& path, const std::vector<GenModel>& models,
                            const std::vector<Long64_t>& counts, bool is_data, ULong64_t seed,
                            ULong64_t first_event, const GenCampaign& campaign, int compression, Long64_t auto_flush,
                            int nano, bool nano_precision) {
    std::vector<int> order;
    for (size_t i = 0; i < counts.size(); ++i) order.insert(order.end(), counts[i], static_cast<int>(i));
    EventMaker maker(campaign, seed, nano);
    TRandom3 shuffler(static_cast<UInt_t>(seed % 4294967291ULL) + 7u);
    for (Long64_t i = static_cast<Long64_t>(order.size()) - 1; i > 0; --i)
        std::swap(order[i], order[shuffler.Integer(i + 1)]);

    // TFile::Open: a path, or a root:// URL of the store (a Dask worker writes it there)
    std::unique_ptr<TFile> file(TFile::Open(path.c_str(), "RECREATE", "", compression));
    if (!file || file->IsZombie()) throw std::runtime_error("cannot create " + path);
    TTree events("Events", "Events");
    events.SetAutoFlush(auto_flush);
    EventBuffers b{};
    book(events, b, is_data, nano);
    const auto rounded = nano_precision ? rounded_leaves(events) : std::vector<RoundedLeaf>{};

    GenResult result;
    std::set<std::pair<UInt_t, UInt_t>> blocks_seen;
    for (size_t i = 0; i < order.size(); ++i) {
        const GenModel& m = models[order[i]];
        const double w = maker.make(m, is_data, b);
        b.event = first_event + i;
        b.run = is_data ? campaign.run_min + static_cast<UInt_t>((first_event + i) / 50000) % (campaign.run_max - campaign.run_min + 1) : 1;
        b.luminosityBlock = 1 + static_cast<UInt_t>(((first_event + i) / 200) % 2000);
        blocks_seen.emplace(b.run, b.luminosityBlock);
        for (const auto& leaf : rounded)
            for (UInt_t k = 0; k < (leaf.count ? *leaf.count : 1u); ++k)
                leaf.values[k] = reduce_mantissa(leaf.values[k], leaf.bits);
        events.Fill();
        result.sumw += w;
        result.sumw2 += w * w;
        if (!is_data)
            for (int k = 0; k < 9; ++k) result.lhe_scale_sumw[k] += w * b.LHEScaleWeight[k];
    }
    result.n_events = order.size();

    TTree runs("Runs", "Runs");
    UInt_t run = is_data ? campaign.run_min : 1;
    Long64_t gen_count = result.n_events;
    Double_t gen_sumw = result.sumw, gen_sumw2 = result.sumw2;
    // as NanoAOD (v7 and later): the sum of genWeight x LHEScaleWeight[i], divided by genEventSumw
    UInt_t n_lhe_scale = 9;
    Double_t lhe_scale_sumw[9];
    for (int k = 0; k < 9; ++k) lhe_scale_sumw[k] = result.sumw != 0.0 ? result.lhe_scale_sumw[k] / result.sumw : 1.0;
    runs.Branch("run", &run, "run/i");
    if (!is_data) {
        runs.Branch("genEventCount", &gen_count, "genEventCount/L");
        runs.Branch("genEventSumw", &gen_sumw, "genEventSumw/D");
        runs.Branch("genEventSumw2", &gen_sumw2, "genEventSumw2/D");
        runs.Branch("nLHEScaleSumw", &n_lhe_scale, "nLHEScaleSumw/i");
        runs.Branch("LHEScaleSumw", lhe_scale_sumw, "LHEScaleSumw[nLHEScaleSumw]/D");
    }
    runs.Fill();
    // the luminosity blocks of the file's events, one entry each, as NanoAOD's LuminosityBlocks
    TTree blocks("LuminosityBlocks", "LuminosityBlocks");
    UInt_t block_run = 0, block = 0;
    blocks.Branch("run", &block_run, "run/i");
    blocks.Branch("luminosityBlock", &block, "luminosityBlock/i");
    for (const auto& [r, l] : blocks_seen) {
        block_run = r;
        block = l;
        blocks.Fill();
    }
    file->Write();
    file->Close();
    return result;
}

}  // namespace gen
}  // namespace tmet

#endif
