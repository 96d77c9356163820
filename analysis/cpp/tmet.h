// C++ kernels of the tmet analysis graph: objects and their shifts, selection, weights. The
// graph's expressions call them, compiled into a graph's library (analysis/compiled.py) or
// jitted into an RDataFrame graph (Snapshot). Cuts and working points come from the config
// as function arguments, corrections from corrections.h by role.
#ifndef TMET_KERNELS_H
#define TMET_KERNELS_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "ROOT/RVec.hxx"
#include "TMath.h"
#include "corrections.h"
#include "generator_weights.h"

namespace tmet {

using ROOT::RVec;
using ROOT::RVecB;
using ROOT::RVecD;
using ROOT::RVecF;
using ROOT::RVecI;

// ---------------------------------------------------------------------------------------
// objects that systematic shifts vary: jet pt and mass, MET and its phi. Each variation
// kernel returns [up, down] of one column, or [column][up, down] of several (the layouts
// of RDataFrame's single- and multi-column Vary), from nominal inputs only.

inline float TVector2Phi(float x) {
    while (x >= M_PI) x -= 2 * M_PI;
    while (x < -M_PI) x += 2 * M_PI;
    return x;
}

// a standard normal number from (run, lumi, event, jet index) alone, so that JER smearing
// does not depend on how events are split into partitions or threads
inline double seeded_gaus(uint64_t run, uint64_t lumi, uint64_t event, uint64_t index) {
    auto mix = [](uint64_t x) {
        x += 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
    };
    const uint64_t h = mix(mix(mix(mix(run) ^ lumi) ^ event) ^ index);
    const uint64_t h2 = mix(h);
    const double u1 = ((h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    const double u2 = (h2 >> 11) * (1.0 / 9007199254740992.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

// per jet: a seeded standard normal number times the relative pt resolution, the part of
// the stochastic JER smearing that all scale-factor variations share
inline RVecF jer_noise(const RVecF& pt, const RVecF& eta, float rho, uint64_t run, uint64_t lumi, uint64_t event) {
    RVecF out(pt.size());
    const auto& res = corr(JER_RESOLUTION);
    for (size_t i = 0; i < pt.size(); ++i)
        out[i] = seeded_gaus(run, lumi, event, i) * res({eta[i], pt[i], rho});
    return out;
}

// per jet: the stochastic JER factor for the scale factor's variation, 1 + noise *
// sqrt(SF^2 - 1), never below zero; it scales both pt and mass
inline RVecF jer_factor(const RVecF& pt, const RVecF& eta, const RVecF& noise, int variation) {
    const auto& sf = corr(JER_SF);
    RVecF out(pt.size());
    for (size_t i = 0; i < pt.size(); ++i) {
        const double s = sf({eta[i], pt[i]}, variation);
        out[i] = std::max(1.0 + noise[i] * std::sqrt(std::max(s * s - 1.0, 0.0)), 0.0);
    }
    return out;
}

// [up, down] JER factors: the same random numbers smeared with SF +- unc
inline RVec<RVecF> jer_factor_variations(const RVecF& pt, const RVecF& eta, const RVecF& noise) {
    return {jer_factor(pt, eta, noise, UP), jer_factor(pt, eta, noise, DOWN)};
}

// [x f[0], x f[1]]: jet pt or mass under [up, down] per-jet factors (the JER variations)
inline RVec<RVecF> factor_variations(const RVecF& x, const RVec<RVecF>& f) { return {x * f[0], x * f[1]}; }

// per jet: the relative jet energy scale uncertainty at pt (smeared for the jets, unsmeared for type-1 MET)
inline RVecF jes_uncertainty(const RVecF& eta, const RVecF& pt) {
    const auto& unc = corr(JES);
    RVecF out(pt.size());
    for (size_t i = 0; i < pt.size(); ++i) out[i] = unc({eta[i], pt[i]});
    return out;
}

// [x (1 + unc), x (1 - unc)]: jet pt or mass under the JES variations
inline RVec<RVecF> scale_variations(const RVecF& x, const RVecF& unc) { return {x * (1.f + unc), x * (1.f - unc)}; }

// MET after replacing the pt of jets (above min_pt before the change) by new_pt
inline std::pair<float, float> propagate_to_met(float met, float met_phi, const RVecF& old_pt, const RVecF& new_pt,
                                                const RVecF& phi, float min_pt) {
    double px = met * std::cos(met_phi), py = met * std::sin(met_phi);
    for (size_t i = 0; i < old_pt.size(); ++i) {
        if (old_pt[i] <= min_pt) continue;
        const double d = new_pt[i] - old_pt[i];
        px -= d * std::cos(phi[i]);
        py -= d * std::sin(phi[i]);
    }
    return {static_cast<float>(std::hypot(px, py)), static_cast<float>(std::atan2(py, px))};
}

// [met, met_phi][up, down] under the JES variations. Type-1 MET is made from unsmeared
// jets, so it takes the change of their pt when scaled by (1 +- unc), unc at the unsmeared
// pt (CMS's type-1 MET uncertainties); the smeared jets vary separately
inline RVec<RVecF> jes_met_variations(float met, float met_phi, const RVecF& pt, const RVecF& unc, const RVecF& phi,
                                      float min_pt) {
    const auto scaled = scale_variations(pt, unc);
    const auto up = propagate_to_met(met, met_phi, pt, scaled[0], phi, min_pt);
    const auto down = propagate_to_met(met, met_phi, pt, scaled[1], phi, min_pt);
    return {{up.first, down.first}, {up.second, down.second}};
}

// [met, met_phi][up, down] of the unclustered energy: MET x/y shifted by the NanoAOD deltas
inline RVec<RVecF> met_uncl_variations(float met, float met_phi, float dx, float dy) {
    const double px = met * std::cos(met_phi), py = met * std::sin(met_phi);
    RVec<RVecF> out{RVecF(2), RVecF(2)};
    for (int v = 0; v < 2; ++v) {
        const double s = v == 0 ? 1.0 : -1.0;
        out[0][v] = std::hypot(px + s * dx, py + s * dy);
        out[1][v] = std::atan2(py + s * dy, px + s * dx);
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// object selection

// jets passing the eta and ID cuts and DeltaR > dr to every veto lepton: the part of the jet
// selection that no shift changes (the pt cut is applied per universe); ID types differ
// between NanoAOD versions (Int_t in v9, UChar_t in v12), hence the template
template <typename T>
RVecB clean_jets(const RVecF& eta, const RVecF& phi, const RVec<T>& jet_id, const RVecF& lep_eta,
                 const RVecF& lep_phi, float abseta_max, int id_bit, float dr) {
    RVecB sel(eta.size());
    for (size_t i = 0; i < eta.size(); ++i) {
        bool ok = std::abs(eta[i]) < abseta_max && (static_cast<int>(jet_id[i]) & id_bit) != 0;
        for (size_t j = 0; ok && j < lep_eta.size(); ++j) {
            const double deta = eta[i] - lep_eta[j], dphi = TVector2Phi(phi[i] - lep_phi[j]);
            ok = deta * deta + dphi * dphi > dr * dr;
        }
        sel[i] = ok;
    }
    return sel;
}

// transverse mass of the leading (highest-pt) lepton with MET; 0 without a lepton
inline float transverse_mass(const RVecF& lep_pt, const RVecF& lep_phi, float met, float met_phi) {
    if (lep_pt.empty()) return 0.f;
    const auto i = ROOT::VecOps::ArgMax(lep_pt);
    return std::sqrt(std::max(0.0, 2.0 * lep_pt[i] * met * (1.0 - std::cos(lep_phi[i] - met_phi))));
}

// sum of x over the selected entries (in float, in order), without a masked copy
inline float masked_sum(const RVecF& x, const RVecB& sel) {
    float sum = 0.f;
    for (size_t i = 0; i < x.size(); ++i)
        if (sel[i]) sum += x[i];
    return sum;
}

// min |dphi(jet, MET)| over the first n selected jets (NanoAOD order); 999 without jets
inline float min_delta_phi(const RVecF& jet_phi, const RVecB& sel, float met_phi, int n) {
    float best = 999.f;
    int used = 0;
    for (size_t i = 0; i < jet_phi.size() && used < n; ++i) {
        if (!sel[i]) continue;
        best = std::min(best, std::abs(TVector2Phi(jet_phi[i] - met_phi)));
        ++used;
    }
    return best;
}

// indices of the true entries of passed (the categories an event is in, in config order)
inline RVecI passed_indices(std::initializer_list<bool> passed) {
    RVecI out;
    int index = 0;
    for (const bool p : passed) {
        if (p) out.push_back(index);
        ++index;
    }
    return out;
}

// index of the best (highest-score) top candidate, -1 without one
inline int best_top(const RVecF& score) { return score.empty() ? -1 : static_cast<int>(ROOT::VecOps::ArgMax(score)); }

// ---------------------------------------------------------------------------------------
// weights: each kernel evaluates one variation, so that the nominal weight (needed under
// every object shift) costs one evaluation and up/down are evaluated only when asked for

inline double pileup_weight(float n_true, int variation) { return corr(PILEUP)({n_true}, variation); }

// tight-lepton scale factors (muon quantities: abseta, pt, eta; electron: eta, pt, abseta)
inline double lepton_weight(const RVecF& mu_pt, const RVecF& mu_eta, const RVecF& el_pt, const RVecF& el_eta,
                            int variation) {
    double w = 1.0;
    const auto& id = corr(MUON_ID);
    const auto& iso = corr(MUON_ISO);
    for (size_t i = 0; i < mu_pt.size(); ++i) {
        const double abseta = std::abs(mu_eta[i]);
        w *= id({abseta, mu_pt[i], mu_eta[i]}, variation) * iso({abseta, mu_pt[i], mu_eta[i]}, variation);
    }
    const auto& el = corr(ELECTRON_ID);
    for (size_t i = 0; i < el_pt.size(); ++i) w *= el({el_eta[i], el_pt[i], std::abs(el_eta[i])}, variation);
    return w;
}

// per jet: the measured b-tag efficiency (the dataset's BTagEfficiency map) of each selected
// untagged jet, 0 for the others (the fixed-working-point weight uses only those)
template <typename T, typename B>
RVecD btag_efficiencies(const RVecF& pt, const RVecF& eta, const RVec<T>& flavour, const RVec<B>& tagged,
                        const RVecB& sel) {
    const auto& eff = corr(BTAG_EFFICIENCY);
    RVecD out(pt.size(), 0.0);
    for (size_t i = 0; i < pt.size(); ++i)
        if (sel[i] && !tagged[i]) out[i] = eff({static_cast<double>(flavour[i]), pt[i], std::abs(eta[i])});
    return out;
}

// fixed-working-point method over the selected jets: prod_tagged SF * prod_untagged
// (1 - SF eps) / (1 - eps), eps from btag_efficiencies (SF quantities: flavour, abseta, pt, eta)
template <typename T, typename B>
double btag_weight(const RVecF& pt, const RVecF& eta, const RVec<T>& flavour, const RVec<B>& tagged, const RVecB& sel,
                   const RVecD& efficiency, int variation) {
    double w = 1.0;
    const auto& heavy = corr(BTAG_HEAVY);
    const auto& light = corr(BTAG_LIGHT);
    for (size_t i = 0; i < pt.size(); ++i) {
        if (!sel[i]) continue;
        const int flav = static_cast<int>(flavour[i]);
        const double sf = (flav == 0 ? light : heavy)({double(flav), std::abs(eta[i]), pt[i], eta[i]}, variation);
        if (tagged[i]) {
            w *= sf;
        } else {
            const double e = efficiency[i];
            w *= e < 1.0 ? (1.0 - sf * e) / (1.0 - e) : 1.0;
        }
    }
    return w;
}

// the (category, weight shift) bins, category * n_shifts + shift, of an event in the
// categories ``categories``: the y column of one fill of every weight shift in every category
inline RVecI category_shift_bins(const RVecI& categories, int n_shifts) {
    RVecI out(categories.size() * n_shifts);
    for (size_t c = 0; c < categories.size(); ++c)
        for (int s = 0; s < n_shifts; ++s) out[c * n_shifts + s] = categories[c] * n_shifts + s;
    return out;
}

// the weights of category_shift_bins: the shifted weights once per category of the event
inline RVecD repeat_weights(const RVecD& weights, size_t n_categories) {
    RVecD out(weights.size() * n_categories);
    for (size_t c = 0; c < n_categories; ++c) std::copy(weights.begin(), weights.end(), out.begin() + c * weights.size());
    return out;
}

}  // namespace tmet

#endif
