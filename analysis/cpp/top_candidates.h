// STEP 1's resolved top-quark candidates (ANALYSIS.md, docs/physics.md): every unordered
// triplet of an event's candidate jets, in index order, with its b jet (the highest b tag,
// the lower index on a tie) and j1, j2 (the other two, j1 the higher pt), kept where the
// trijet mass lies in the window, scored by the top tagger, and cleaned greedily by score
// (a tie keeps enumeration order) into at most ``max_candidates`` that share no jet.
//
// The candidate jets, the model's features and its score are written per config and model
// by analysis/physics/top_candidates.py (the jet type, ``features``, ``score``); this header
// holds what does not change with them. The training data of the tagger
// (scripts/top_tagger_training_data.py) visits the triplets with the same ``each_triplet``.
#ifndef TMET_TOP_CANDIDATES_H
#define TMET_TOP_CANDIDATES_H

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "ROOT/RVec.hxx"

namespace tmet::top {

// a four-vector's pt, eta, phi and mass
struct P4 {
    double pt, eta, phi, mass;
};

// phi difference folded into [-pi, pi)
inline double delta_phi(double a, double b) {
    const double two_pi = 2 * M_PI, d = a - b + M_PI;
    return d - two_pi * std::floor(d / two_pi) - M_PI;
}

template <class A, class B>
double delta_r(const A& a, const B& b) {
    return std::hypot(a.eta - b.eta, delta_phi(a.phi, b.phi));
}

struct Cartesian {
    double px, py, pz, e;
};

template <class J>
Cartesian cartesian(const J& j) {
    const double px = j.pt * std::cos(j.phi), py = j.pt * std::sin(j.phi), pz = j.pt * std::sinh(j.eta);
    return {px, py, pz, std::sqrt(px * px + py * py + pz * pz + j.mass * j.mass)};
}

inline Cartesian operator+(const Cartesian& a, const Cartesian& b) {
    return {a.px + b.px, a.py + b.py, a.pz + b.pz, a.e + b.e};
}

inline P4 polar(const Cartesian& c) {
    const double pt = std::hypot(c.px, c.py);
    const double m2 = c.e * c.e - c.px * c.px - c.py * c.py - c.pz * c.pz;
    return {pt, std::asinh(c.pz / (pt > 0 ? pt : 1e-30)), std::atan2(c.py, c.px), std::sqrt(std::max(m2, 0.0))};
}

// visit(b, j1, j2, trijet, dijet) for every triplet of ``jets`` whose trijet mass lies in
// (mass_low, mass_high), in enumeration order (i < j < k)
template <class Jets, class Visit>
void each_triplet(const Jets& jets, double mass_low, double mass_high, Visit&& visit) {
    const size_t n = jets.size();
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j)
            for (size_t k = j + 1; k < n; ++k) {
                using Jet = typename Jets::value_type;
                const Jet* slot[3] = {&jets[i], &jets[j], &jets[k]};
                const int b = slot[0]->btag >= slot[1]->btag && slot[0]->btag >= slot[2]->btag ? 0
                              : slot[1]->btag >= slot[2]->btag                                 ? 1
                                                                                               : 2;
                int o1 = b == 0 ? 1 : 0, o2 = b == 2 ? 1 : 2;
                if (slot[o2]->pt > slot[o1]->pt) std::swap(o1, o2);
                const auto &jb = *slot[b], &j1 = *slot[o1], &j2 = *slot[o2];
                const Cartesian c1 = cartesian(j1), c2 = cartesian(j2);
                const P4 trijet = polar(cartesian(jb) + c1 + c2);
                if (!(trijet.mass > mass_low && trijet.mass < mass_high)) continue;
                visit(jb, j1, j2, trijet, polar(c1 + c2));
            }
}

// the accepted candidates of an event, as NanoAOD's TopCand collection
struct Candidates {
    ROOT::RVecF pt, eta, phi, mass, score;
    ROOT::RVecI type, jet_b, jet_j1, jet_j2;
};

// TopCand_type of a resolved candidate (0: merged, 1: mixed, 2: resolved)
constexpr int RESOLVED = 2;

// ``features(b, j1, j2, trijet, dijet, x)`` fills the model's inputs, ``score(x)`` is the
// tagger's output; ``n_features`` inputs per triplet
template <class Jets, class Features, class Score>
Candidates candidates(const Jets& jets, double mass_low, double mass_high, int max_candidates, int n_features,
                      Features&& features, Score&& score) {
    struct Scored {
        double score;
        int b, j1, j2;
        P4 trijet;
    };
    std::vector<Scored> kept;
    std::vector<double> x(n_features);
    each_triplet(jets, mass_low, mass_high, [&](const auto& b, const auto& j1, const auto& j2, const P4& trijet,
                                                const P4& dijet) {
        features(b, j1, j2, trijet, dijet, x.data());
        kept.push_back({score(x.data()), b.index, j1.index, j2.index, trijet});
    });
    std::stable_sort(kept.begin(), kept.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
    Candidates out;
    std::vector<int> used;
    for (const auto& c : kept) {
        if (static_cast<int>(out.pt.size()) >= max_candidates) break;
        if (std::find(used.begin(), used.end(), c.b) != used.end() ||
            std::find(used.begin(), used.end(), c.j1) != used.end() ||
            std::find(used.begin(), used.end(), c.j2) != used.end())
            continue;
        used.insert(used.end(), {c.b, c.j1, c.j2});
        out.pt.push_back(c.trijet.pt);
        out.eta.push_back(c.trijet.eta);
        out.phi.push_back(c.trijet.phi);
        out.mass.push_back(c.trijet.mass);
        out.score.push_back(c.score);
        out.type.push_back(RESOLVED);
        out.jet_b.push_back(c.b);
        out.jet_j1.push_back(c.j1);
        out.jet_j2.push_back(c.j2);
    }
    return out;
}

}  // namespace tmet::top

#endif
