// correctionlib corrections of tmet: each file parsed once per process, each correction
// bound once by key to the quantities its kernel gives it (by the inputs' names, checked
// by analysis/corrections.py), then evaluated read-only inside the event loop.
#ifndef TMET_CORRECTIONS_H
#define TMET_CORRECTIONS_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "correction.h"

namespace tmet {

// ---------------------------------------------------------------------------------------
// corrections: each file parsed once per process, each correction bound once by key to the
// quantities its kernel gives it, then evaluated read-only inside the event loop

// the variation a kernel asks a correction for; the binding maps it to the file's own string
enum Variation : int { NOMINAL = 0, UP = 1, DOWN = 2 };

inline std::map<std::string, std::unique_ptr<correction::CorrectionSet>>& correction_files() {
    static std::map<std::string, std::unique_ptr<correction::CorrectionSet>> files;
    return files;
}

inline correction::Correction::Ref find_correction(const std::string& file, const std::string& name) {
    auto& files = correction_files();
    auto it = files.find(file);
    if (it == files.end()) it = files.emplace(file, correction::CorrectionSet::from_file(file)).first;
    const auto& cset = *it->second;
    std::string names;
    for (const auto& entry : cset) {
        if (entry.first == name) return entry.second;
        names += (names.empty() ? "" : ", ") + entry.first;
    }
    throw std::runtime_error("no correction '" + name + "' in " + file + " (it holds: " + names + ")");
}

// "name type" of every input of a correction, in the file's order
inline std::vector<std::string> correction_inputs(const std::string& file, const std::string& name) {
    std::vector<std::string> out;
    for (const auto& input : find_correction(file, name)->inputs()) out.push_back(input.name() + " " + input.typeStr());
    return out;
}

// A correction whose inputs are filled by name: input i of the file takes the kernel's
// quantity sources[i] (>= 0), a fixed value (FIXED) or the variation's string (VARIATION).
// Its value must be finite and non-negative (a scale factor, weight, resolution,
// uncertainty or efficiency); anything else stops the event loop naming the inputs.
class BoundCorrection {
public:
    static constexpr int FIXED = -1;
    static constexpr int VARIATION = -2;

    BoundCorrection(correction::Correction::Ref ref, std::vector<int> sources, const std::vector<std::string>& fixed,
                    std::vector<std::string> variations, std::string label, std::string spec)
        : spec(std::move(spec)), ref_(std::move(ref)), sources_(std::move(sources)),
          variations_(std::move(variations)), label_(std::move(label)) {
        const auto& inputs = ref_->inputs();
        for (size_t i = 0; i < inputs.size(); ++i) {
            is_int_.push_back(inputs[i].type() == correction::Variable::VarType::integer);
            if (sources_[i] != FIXED) {
                fixed_.emplace_back(0.0);
            } else if (inputs[i].type() == correction::Variable::VarType::string) {
                fixed_.emplace_back(fixed[i]);
            } else if (is_int_.back()) {
                fixed_.emplace_back(static_cast<int64_t>(std::stoll(fixed[i])));
            } else {
                fixed_.emplace_back(std::stod(fixed[i]));
            }
        }
    }

    double operator()(std::initializer_list<double> quantities, int variation = NOMINAL) const {
        thread_local std::vector<correction::Variable::Type> args;
        args.resize(sources_.size());
        for (size_t i = 0; i < sources_.size(); ++i) {
            const int source = sources_[i];
            if (source >= 0) {
                const double q = quantities.begin()[source];
                if (is_int_[i]) args[i] = static_cast<int64_t>(q); else args[i] = q;
            } else if (source == FIXED) {
                args[i] = fixed_[i];
            } else {
                args[i] = variations_.at(variation);
            }
        }
        const double value = ref_->evaluate(args);
        if (!std::isfinite(value) || value < 0) throw std::runtime_error(describe(value, args));
        return value;
    }

    const std::string spec;  // what it was bound from (the config's spec, as text)

private:
    std::string describe(double value, const std::vector<correction::Variable::Type>& args) const {
        std::string text = label_ + " gave " + std::to_string(value) + ", which cannot be a scale factor, "
                           "resolution, uncertainty or efficiency, for ";
        const auto& inputs = ref_->inputs();
        for (size_t i = 0; i < args.size(); ++i) {
            text += (i ? ", " : "") + inputs[i].name() + "=";
            if (auto p = std::get_if<double>(&args[i])) text += std::to_string(*p);
            else if (auto p = std::get_if<int64_t>(&args[i])) text += std::to_string(*p);
            else text += std::get<std::string>(args[i]);
        }
        return text;
    }

    correction::Correction::Ref ref_;
    std::vector<int> sources_;
    std::vector<bool> is_int_;
    std::vector<correction::Variable::Type> fixed_;
    std::vector<std::string> variations_;
    std::string label_;
};

inline std::map<std::string, BoundCorrection>& corrections() {
    static std::map<std::string, BoundCorrection> registry;
    return registry;
}

inline void bind_correction(const std::string& key, const std::string& file, const std::string& name,
                            const std::vector<int>& sources, const std::vector<std::string>& fixed,
                            const std::vector<std::string>& variations, const std::string& spec) {
    corrections().erase(key);
    corrections().emplace(key, BoundCorrection(find_correction(file, name), sources, fixed, variations,
                                               "correction '" + name + "' of " + file, spec));
}

// the spec ``key`` is bound from ("" if none): a key is rebound only when its spec changes
inline std::string bound_spec(const std::string& key) {
    auto it = corrections().find(key);
    return it == corrections().end() ? "" : it->second.spec;
}

inline const BoundCorrection& corr(const std::string& key) {
    auto it = corrections().find(key);
    if (it == corrections().end()) throw std::runtime_error("tmet: correction '" + key + "' was not loaded");
    return it->second;
}

}  // namespace tmet

#endif
