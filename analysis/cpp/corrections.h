// correctionlib corrections of tmet: each file parsed once per process, each correction
// bound once to the quantities its kernel gives it (by the inputs' names, checked by
// analysis/corrections.py), then evaluated read-only inside the event loop. Kernels find a
// correction by its role (tmet::Key), an array index: no string per call.
#ifndef TMET_CORRECTIONS_H
#define TMET_CORRECTIONS_H

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "correction.h"

namespace tmet {

// the variation a kernel asks a correction for; the binding maps it to the file's own string
enum Variation : int { NOMINAL = 0, UP = 1, DOWN = 2 };

// the correction ``name`` of ``file``, the file parsed once per process and content (a
// long-lived Dask worker sees a remade b-tag efficiency file under the same path)
inline correction::Correction::Ref find_correction(const std::string& file, const std::string& name,
                                                   const std::string& content) {
    static std::mutex mutex;
    static std::map<std::string, std::unique_ptr<correction::CorrectionSet>> files;
    std::lock_guard<std::mutex> lock(mutex);
    const std::string key = file + "\n" + content;
    auto it = files.find(key);
    if (it == files.end()) it = files.emplace(key, correction::CorrectionSet::from_file(file)).first;
    const auto& cset = *it->second;
    std::string names;
    for (const auto& entry : cset) {
        if (entry.first == name) return entry.second;
        names += (names.empty() ? "" : ", ") + entry.first;
    }
    throw std::runtime_error("no correction '" + name + "' in " + file + " (it holds: " + names + ")");
}

// "name type" of every input of a correction, in the file's order
inline std::vector<std::string> correction_inputs(const std::string& file, const std::string& name,
                                                  const std::string& content) {
    std::vector<std::string> out;
    for (const auto& input : find_correction(file, name, content)->inputs()) out.push_back(input.name() + " " + input.typeStr());
    return out;
}

// std::upper_bound(first, first + n, x) (the first edge above x; the end for NaN) without
// branches: the bin searches of the compiled corrections, where the branches of a binary
// search mispredict for every jet
inline const double* upper_edge(const double* first, size_t n, double x) {
    while (n > 1) {
        const size_t half = n / 2;
        first = x < first[half] ? first : first + half;
        n -= half;
    }
    return first + (x < *first ? 0 : 1);
}

// a correction written as C++ for one binding (analysis/correction_code.py), compiled into
// a graph's library: the kernel's quantities and the variation in, the value out
using CompiledCorrection = double (*)(const double* quantities, int variation);

// A correction whose inputs are filled by name: input i of the file takes the kernel's
// quantity sources[i] (>= 0), a fixed value (FIXED) or the variation's string (VARIATION).
// Its value must be finite and non-negative (a scale factor, weight, resolution,
// uncertainty or efficiency); anything else stops the event loop naming the inputs.
// ``compiled`` (optional) evaluates it without correctionlib's tree walk; it is used only
// if it gives correctionlib's value at every one of ``check_points`` (n_quantities
// quantities each) under every variation, else ``mismatch`` says where it did not.
class BoundCorrection {
public:
    static constexpr int FIXED = -1;
    static constexpr int VARIATION = -2;

    BoundCorrection(correction::Correction::Ref ref, std::vector<int> sources, const std::vector<std::string>& fixed,
                    std::vector<std::string> variations, std::string label, std::string spec,
                    CompiledCorrection compiled = nullptr, const std::vector<double>& check_points = {},
                    size_t n_quantities = 0)
        : spec(std::move(spec)), ref_(std::move(ref)), sources_(std::move(sources)),
          variations_(std::move(variations)), label_(std::move(label)), id_(next_id()++) {
        const auto& inputs = ref_->inputs();
        for (size_t i = 0; i < inputs.size(); ++i) {
            const bool is_int = inputs[i].type() == correction::Variable::VarType::integer;
            if (sources_[i] >= 0) {
                numeric_.push_back({i, sources_[i], is_int});
                fixed_.emplace_back(is_int ? correction::Variable::Type(int64_t(0)) : correction::Variable::Type(0.0));
            } else if (sources_[i] != FIXED) {
                fixed_.emplace_back(std::string());
            } else if (inputs[i].type() == correction::Variable::VarType::string) {
                fixed_.emplace_back(fixed[i]);
            } else if (is_int) {
                fixed_.emplace_back(static_cast<int64_t>(std::stoll(fixed[i])));
            } else {
                fixed_.emplace_back(std::stod(fixed[i]));
            }
        }
        if (compiled && n_quantities) {
            mismatch = check(compiled, check_points, n_quantities);
            if (mismatch.empty()) compiled_ = compiled;
        }
    }

    double operator()(std::initializer_list<double> quantities, int variation = NOMINAL) const {
        if (compiled_) {
            const double value = compiled_(quantities.begin(), variation);
            if (std::isfinite(value) && value >= 0) return value;
        }  // a value that cannot be is described by correctionlib's evaluation
        auto& args = arguments(variation);
        const double value = reference(quantities.begin(), args);
        if (!std::isfinite(value) || value < 0) throw std::runtime_error(describe(value, args));
        return value;
    }

    bool is_compiled() const { return compiled_ != nullptr; }

    const std::string spec;  // what it was bound from (the config's spec, as text)
    std::string mismatch;    // where the compiled code disagreed with correctionlib ("" if it did not)

private:
    double reference(const double* quantities, std::vector<correction::Variable::Type>& args) const {
        for (const auto& input : numeric_) {
            const double q = quantities[input.source];
            if (input.is_int) args[input.index] = static_cast<int64_t>(q); else args[input.index] = q;
        }
        return ref_->evaluate(args);
    }

    // "" if ``compiled`` gives correctionlib's value (to 1e-12, or the same failure) at
    // every point under every variation; else the first point where it did not
    std::string check(CompiledCorrection compiled, const std::vector<double>& points, size_t n) const {
        const int n_variations = std::max<int>(1, static_cast<int>(variations_.size()));
        for (size_t p = 0; p + n <= points.size(); p += n) {
            for (int v = 0; v < n_variations; ++v) {
                double expected = 0, got = 0;
                bool expected_failed = false, got_failed = false;
                try { expected = reference(&points[p], arguments(v)); } catch (const std::exception&) { expected_failed = true; }
                try { got = compiled(&points[p], v); } catch (const std::exception&) { got_failed = true; }
                const bool same = expected_failed || got_failed
                    ? expected_failed == got_failed
                    : (expected == got || (std::isnan(expected) && std::isnan(got))
                       || std::abs(expected - got) <= 1e-12 * std::max(std::abs(expected), std::abs(got)));
                if (!same) {
                    std::string where;
                    for (size_t i = 0; i < n; ++i) where += (i ? ", " : "") + std::to_string(points[p + i]);
                    return label_ + " at quantities (" + where + "), variation " + std::to_string(v) + ": correctionlib " +
                           (expected_failed ? "failed" : std::to_string(expected)) + ", compiled " +
                           (got_failed ? "failed" : std::to_string(got));
                }
            }
        }
        return "";
    }

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

    static size_t& next_id() {
        static size_t id = 0;  // only bind_correction makes them, under its lock
        return id;
    }

    // this thread's arguments for ``variation``, the fixed values and the variation's string
    // in place: a call writes only the quantities
    std::vector<correction::Variable::Type>& arguments(int variation) const {
        static thread_local std::vector<std::vector<correction::Variable::Type>> cache;
        const size_t key = id_ * 3 + static_cast<size_t>(variation);
        if (key >= cache.size()) cache.resize(key + 1);
        auto& args = cache[key];
        if (args.empty()) {
            args = fixed_;
            for (size_t i = 0; i < sources_.size(); ++i)
                if (sources_[i] == VARIATION) args[i] = variations_.at(variation);
        }
        return args;
    }

    struct Numeric {
        size_t index;
        int source;
        bool is_int;
    };

    correction::Correction::Ref ref_;
    std::vector<int> sources_;
    std::vector<correction::Variable::Type> fixed_;
    std::vector<std::string> variations_;
    std::string label_;
    size_t id_;
    std::vector<Numeric> numeric_;
    CompiledCorrection compiled_ = nullptr;
};

// the corrections of the analysis, one per role; the order is analysis/corrections.py's KEYS
enum Key : int {
    PILEUP, MUON_ID, MUON_ISO, ELECTRON_ID, BTAG_HEAVY, BTAG_LIGHT, JES, JER_RESOLUTION, JER_SF, BTAG_EFFICIENCY,
    JET_ID_TIGHT, JET_ID_TIGHT_LEPTON_VETO, N_KEYS
};
inline const char* const KEY_NAMES[N_KEYS] = {
    "pileup", "muon_id", "muon_iso", "electron_id", "btag_heavy", "btag_light", "jes", "jer_resolution", "jer_sf",
    "btag_efficiency", "jet_id_tight", "jet_id_tight_lepton_veto"};

// the correction bound to every role (nullptr: not loaded)
using CorrectionTable = std::array<const BoundCorrection*, N_KEYS>;

// every binding of the process, by its spec (which holds the file's content digest), made
// once and never freed: tables point into it
inline const BoundCorrection* bind_correction(const std::string& file, const std::string& name,
                                              const std::string& content, const std::vector<int>& sources,
                                              const std::vector<std::string>& fixed,
                                              const std::vector<std::string>& variations, const std::string& spec,
                                              CompiledCorrection compiled = nullptr,
                                              const std::vector<double>& check_points = {}, size_t n_quantities = 0) {
    static std::mutex mutex;
    static std::map<std::string, std::unique_ptr<BoundCorrection>> bound;
    std::lock_guard<std::mutex> lock(mutex);
    auto& entry = bound[spec];
    if (!entry)
        entry = std::make_unique<BoundCorrection>(find_correction(file, name, content), sources, fixed, variations,
                                                  "correction '" + name + "' of " + file, spec, compiled,
                                                  check_points, n_quantities);
    return entry.get();
}

// the table of the jitted graphs of the process (corrections.setup fills it)
inline CorrectionTable& process_table() {
    static CorrectionTable table{};
    return table;
}

inline void bind_process_key(int key, const std::string& file, const std::string& name, const std::string& content,
                             const std::vector<int>& sources, const std::vector<std::string>& fixed,
                             const std::vector<std::string>& variations, const std::string& spec) {
    process_table().at(key) = bind_correction(file, name, content, sources, fixed, variations, spec);
}

// the spec the process's role ``key`` is bound from ("" if none)
inline std::string process_spec(int key) {
    const BoundCorrection* c = process_table().at(key);
    return c ? c->spec : "";
}

#ifdef TMET_COMPILED_GRAPH
// the table of the compiled graph running on this thread, set by its entry functions (runs
// of several datasets may share a process; the jitted graphs never see this: the
// interpreter mishandles a thread_local returned by reference)
inline const CorrectionTable*& run_table() {
    static thread_local const CorrectionTable* table = nullptr;
    return table;
}
#endif

inline const BoundCorrection& corr(Key key) {
#ifdef TMET_COMPILED_GRAPH
    const BoundCorrection* c = (*run_table())[key];
#else
    const BoundCorrection* c = process_table()[key];
#endif
    if (!c) throw std::runtime_error(std::string("tmet: correction '") + KEY_NAMES[key] + "' was not loaded");
    return *c;
}

}  // namespace tmet

#endif
