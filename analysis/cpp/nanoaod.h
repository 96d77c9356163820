// Kernels of the skim that turn NanoAOD of other versions into the canonical columns
// (analysis/nanoaod.py): the jet ID where the stored one is wrong or missing, and v9's
// unclustered-energy MET deltas from v15's varied PUPPI MET; and the pairing check of an
// input with its STEP 1 friend.
#ifndef TMET_NANOAOD_H
#define TMET_NANOAOD_H

#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "ROOT/RVec.hxx"
#include "corrections.h"

namespace tmet {

using ROOT::RVec;
using ROOT::RVecF;
using ROOT::RVecI;

// the canonical jet ID (bit 2: tight, bit 4: tight lepton veto) of NanoAOD versions whose
// stored Jet_jetId is wrong (v12) or missing (v15; read with JME's jetid.json from v13 on)

// JME's correction of v12's stored flag: the stored tight bit, tightened where the 13.6 TeV
// definition is (neutral hadron fraction between the transition and the forward |eta|,
// neutral EM fraction beyond); the lepton veto rebuilt on it up to the transition |eta|
template <typename T>
RVecI jet_id_v12(const RVecF& eta, const RVec<T>& stored, const RVecF& ne_hef, const RVecF& ne_emef,
                 const RVecF& mu_ef, const RVecF& ch_emef, float transition, float forward, float ne_hef_max,
                 float ne_emef_max, float mu_ef_max, float ch_emef_max) {
    RVecI out(eta.size());
    for (size_t i = 0; i < eta.size(); ++i) {
        const float abseta = std::abs(eta[i]);
        bool tight = (static_cast<int>(stored[i]) & 2) != 0;
        if (abseta > transition && abseta <= forward) tight = tight && ne_hef[i] < ne_hef_max;
        if (abseta > forward) tight = tight && ne_emef[i] < ne_emef_max;
        const bool veto = tight && (abseta > transition || (mu_ef[i] < mu_ef_max && ch_emef[i] < ch_emef_max));
        out[i] = 2 * tight + 4 * veto;
    }
    return out;
}

// JME's jetid.json (corrections jet_id_tight, jet_id_tight_lepton_veto), from the energy
// fractions and the charged and neutral multiplicities
template <typename M>
RVecI jet_id_from_json(const RVecF& eta, const RVecF& ch_hef, const RVecF& ne_hef, const RVecF& ch_emef,
                       const RVecF& ne_emef, const RVecF& mu_ef, const RVec<M>& ch_mult, const RVec<M>& ne_mult) {
    const auto& tight = corr(JET_ID_TIGHT);
    const auto& veto = corr(JET_ID_TIGHT_LEPTON_VETO);
    RVecI out(eta.size());
    for (size_t i = 0; i < eta.size(); ++i) {
        const double ch = static_cast<double>(ch_mult[i]), ne = static_cast<double>(ne_mult[i]);
        const std::initializer_list<double> q = {eta[i], ch_hef[i], ne_hef[i], ch_emef[i], ne_emef[i], mu_ef[i],
                                                 ch, ne, ch + ne};
        out[i] = 2 * (tight(q) > 0.5) + 4 * (veto(q) > 0.5);
    }
    return out;
}

// v9's unclustered-energy MET deltas (the up variation minus the nominal, per axis) from
// v15's varied PUPPI MET
inline float unclustered_delta_x(float pt, float phi, float up_pt, float up_phi) {
    return up_pt * std::cos(up_phi) - pt * std::cos(phi);
}
inline float unclustered_delta_y(float pt, float phi, float up_pt, float up_phi) {
    return up_pt * std::sin(up_phi) - pt * std::sin(phi);
}

// an input's entry and its friend's hold the same event, else the friend was made from
// another file (or the input was replaced or re-ordered since): the skim stops, and
// analysis/physics/skim.py names the two files
template <typename E, typename F>
bool paired(E event, F friend_event) {
    if (static_cast<unsigned long long>(event) != static_cast<unsigned long long>(friend_event))
        throw std::runtime_error("friend pairing: event " + std::to_string(event) + " of the input has event " +
                                 std::to_string(friend_event) + " in its friend");
    return true;
}

}  // namespace tmet

#endif
