// NanoAOD's generator-weight arrays, as the theory shifts read them (tmet.h includes this) and
// as the sums that normalise their templates are made (analysis/physics/inputs_record.py).
// Their layouts are analysis/physics/nanoaod.py's WEIGHT_ARRAYS; which lengths a dataset's
// files hold is checked before any event loop, so that the exceptions below are a last guard.
#ifndef TMET_GENERATOR_WEIGHTS_H
#define TMET_GENERATOR_WEIGHTS_H

#include <stdexcept>
#include <string>

#include "ROOT/RVec.hxx"

namespace tmet {

// entry ``index`` of the 9-entry layout of LHEScaleWeight ([3 iR + iF], muR and muF in 0.5, 1,
// 2), from a 9-entry array or an 8-entry one without the nominal entry 4 (which is then 1). An
// array of no or one entry (a sample without scale weights) gives 1: the checks allow it only
// for a dataset that says its samples have none (missing_weights).
inline double scale_weight(const ROOT::RVecF& w, int index) {
    if (w.size() == 9) return w[index];
    if (w.size() == 8) return index == 4 ? 1.0 : w[index > 4 ? index - 1 : index];
    if (w.size() <= 1) return 1.0;
    throw std::runtime_error("LHEScaleWeight has " + std::to_string(w.size()) + " entries, not 9 or 8");
}

// entry ``index`` of PSWeight ([0] ISR=2, [1] FSR=2, [2] ISR=0.5, [3] FSR=0.5); no or one
// entry (a sample without parton-shower weights) gives 1, as for scale_weight
inline double ps_weight(const ROOT::RVecF& w, int index) {
    if (w.size() == 4) return w[index];
    if (w.size() <= 1) return 1.0;
    throw std::runtime_error("PSWeight has " + std::to_string(w.size()) + " entries, not 4");
}

}  // namespace tmet

#endif
