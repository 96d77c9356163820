// The runtime of a compiled graph (analysis/compiled.py writes the rest of its source):
// lazy per-entry columns, histogram accumulators that bin exactly like TH1/TH2, and the
// data of a run. Every graph is compiled into its own shared library with the entry points
// of frame_api.h, loaded with ctypes: no interpreter is involved in a run.
#ifndef TMET_FRAME_H
#define TMET_FRAME_H

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ROOT/RDFHelpers.hxx"
#include "ROOT/RDataFrame.hxx"
#include "ROOT/RSnapshotOptions.hxx"
#include "Compression.h"
#include "ROOT/RVec.hxx"
#include "TChain.h"
#include "TROOT.h"
#include "TTreeReader.h"
#include "TTreeReaderArray.h"
#include "TTreeReaderValue.h"
#include "corrections.h"
#include "nano_writer.h"

#define TMET_API extern "C" __attribute__((visibility("default")))

namespace tmet::frame {

// one axis of a histogram, binned as TAxis::FindBin of a histogram that cannot extend
struct Axis {
    int n;
    double low, high;
    std::vector<double> edges;  // variable bins (n + 1 edges), or empty

    int find(double x) const {
        if (x < low) return 0;
        if (!(x < high)) return n + 1;  // also NaN, as ROOT
        if (edges.empty()) return 1 + int(n * (x - low) / (high - low));
        return int(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
    }
};

// The histograms of one action: for each universe it fills, the bin contents, the sums of
// squared weights ((nx + 2) x (ny + 2) bins, x fastest, flow included, as TH2D; one row
// without a y axis, y.n = -1) and the number of fills; ``offset`` is where its universes
// start in a slot's buffer
struct Action {
    Axis x, y;
    int universes;
    size_t offset;
    size_t bins() const { return size_t(x.n + 2) * size_t(y.n + 2); }
    size_t size() const { return universes * (2 * bins() + 1); }
    size_t bin(double vx, double vy) const { return bin_of(size_t(x.find(vx)), vy); }
    size_t bin_of(size_t x_bin, double vy) const {
        return (y.n < 0 ? 0 : size_t(y.find(vy)) * size_t(x.n + 2)) + x_bin;
    }
};

inline size_t buffer_size(const std::vector<Action>& actions) {
    size_t size = 0;
    for (const auto& action : actions) size += action.size();
    return size;
}

template <typename T>
struct is_rvec : std::false_type {};
template <typename T>
struct is_rvec<ROOT::RVec<T>> : std::true_type {};

template <typename T>
constexpr bool is_rvec_v = is_rvec<std::decay_t<T>>::value;

template <typename T>
double at(const T& v, size_t i) {
    if constexpr (is_rvec_v<T>) return static_cast<double>(v[i]); else return static_cast<double>(v);
}

// what RDataFrame's Histo1D/Histo2D do with their columns: containers of one size are filled
// element by element, scalars repeated for each element
template <typename X, typename Y, typename W>
void fill(double* buffer, const Action& action, int universe, const X& x, const Y& y, const W& w) {
    const size_t bins = action.bins();
    double* sumw = buffer + action.offset + universe * (2 * bins + 1);
    double* sumw2 = sumw + bins;
    if constexpr (!is_rvec_v<X> && !is_rvec_v<Y> && !is_rvec_v<W>) {
        const double weight = static_cast<double>(w);
        const size_t bin = action.bin(static_cast<double>(x), static_cast<double>(y));
        sumw[bin] += weight;
        sumw2[bin] += weight * weight;
        sumw[2 * bins] += 1;  // entries
    } else {
        size_t n = 0;
        bool sized = false;
        auto check = [&](const auto& v) {
            if constexpr (is_rvec_v<decltype(v)>) {
                if (sized && v.size() != n)
                    throw std::runtime_error("cannot fill a histogram with containers of different sizes");
                n = v.size();
                sized = true;
            }
        };
        check(x);
        check(y);
        check(w);
        // a scalar's bin (or weight) is found once
        const size_t x_bin = is_rvec_v<X> ? 0 : size_t(action.x.find(at(x, 0)));
        for (size_t i = 0; i < n; ++i) {
            const double weight = at(w, i);
            const size_t bin = is_rvec_v<X> ? action.bin(at(x, i), at(y, i))
                                            : action.bin_of(x_bin, at(y, i));
            sumw[bin] += weight;
            sumw2[bin] += weight * weight;
        }
        sumw[2 * bins] += static_cast<double>(n);
    }
}

// the library's last error on this thread (its C entry points return it)
inline const char* error_text(const std::string& text) {
    static thread_local std::string last;
    last = text;
    return last.c_str();
}

// the table of a run's corrections, from the pointers Python bound (one per tmet::Key)
inline tmet::CorrectionTable correction_table(const void* const* table) {
    tmet::CorrectionTable corrections{};
    for (int k = 0; k < tmet::N_KEYS; ++k) corrections[k] = static_cast<const tmet::BoundCorrection*>(table[k]);
    return corrections;
}

// implicit multithreading for one run, when it has more than one thread
struct ImplicitMT {
    explicit ImplicitMT(int threads) : on(threads > 1) {
        if (on) ROOT::EnableImplicitMT(threads);
    }
    ~ImplicitMT() {
        if (on) ROOT::DisableImplicitMT();
    }
    ImplicitMT(const ImplicitMT&) = delete;
    ImplicitMT& operator=(const ImplicitMT&) = delete;
    bool on;
};

// ROOT's compression algorithm of the name config.x.skim_compression gives
inline ROOT::RCompressionSetting::EAlgorithm::EValues compression_algorithm(const std::string& name) {
    using A = ROOT::RCompressionSetting::EAlgorithm;
    if (name == "ZLIB") return A::kZLIB;
    if (name == "LZMA") return A::kLZMA;
    if (name == "LZ4") return A::kLZ4;
    if (name == "ZSTD") return A::kZSTD;
    throw std::invalid_argument("unknown compression algorithm '" + name + "' (ZLIB, LZMA, LZ4 or ZSTD)");
}

// ROOT's Snapshot output format of the name config.x.skim_format gives
inline ROOT::RDF::ESnapshotOutputFormat output_format(const std::string& name) {
    if (name == "TTree") return ROOT::RDF::ESnapshotOutputFormat::kTTree;
    if (name == "RNTuple") return ROOT::RDF::ESnapshotOutputFormat::kRNTuple;
    throw std::invalid_argument("unknown output format '" + name + "' (TTree or RNTuple)");
}

// A friend file's columns, entry by entry beside the input's (docs/engine.md, "STEP 1's
// friends"): ``tree`` in each of ``files`` (one per input file, in the inputs' order), and
// each column (a branch of the friend tree) with the name the graph reads it by and its
// type as RDataFrame reads it (``columns``: "branch name type" each)
struct Friends {
    std::string tree;
    std::vector<std::string> files;
    std::vector<std::string> columns;
    bool by_entry = false;  // the inputs are RNTuples: read the friends entry by entry
};

// the friends' TChain read entry by entry in step with the input (RDataFrame joins no TTree
// to an RNTuple): valid where the input is read in order by one thread, rdfentry_ being the
// entry counted over the input files, which a pairing check of the graph then confirms
struct FriendReader {
    TChain chain;
    TTreeReader reader;
    Long64_t current = -1;

    FriendReader(const std::string& tree, const std::vector<std::string>& files) : chain(tree.c_str()) {
        for (const auto& file : files) chain.Add(file.c_str());
        reader.SetTree(&chain);
    }
    void at(ULong64_t entry) {
        if (Long64_t(entry) == current) return;
        if (reader.SetEntry(Long64_t(entry)) != TTreeReader::kEntryValid)
            throw std::runtime_error(std::string("the friends ") + chain.GetName() + " have no entry " +
                                     std::to_string(entry) + " (fewer entries than their inputs)");
        current = Long64_t(entry);
    }
};

template <typename T>
ROOT::RDF::RNode define_friend_value(ROOT::RDF::RNode df, std::shared_ptr<FriendReader> friends,
                                     const std::string& branch, const std::string& name) {
    auto value = std::make_shared<TTreeReaderValue<T>>(friends->reader, branch.c_str());
    return df.Define(name, [friends, value](ULong64_t entry) { friends->at(entry); return T(**value); }, {"rdfentry_"});
}

template <typename T>
ROOT::RDF::RNode define_friend_array(ROOT::RDF::RNode df, std::shared_ptr<FriendReader> friends,
                                     const std::string& branch, const std::string& name) {
    auto array = std::make_shared<TTreeReaderArray<T>>(friends->reader, branch.c_str());
    return df.Define(name, [friends, array](ULong64_t entry) {
        friends->at(entry);
        return ROOT::RVec<T>(array->begin(), array->end());
    }, {"rdfentry_"});
}

// one friend column read by a FriendReader, of the types STEP 1's friends hold
inline ROOT::RDF::RNode define_friend_column(ROOT::RDF::RNode df, std::shared_ptr<FriendReader> friends,
                                             const std::string& branch, const std::string& name,
                                             const std::string& type) {
    if (type == "Bool_t" || type == "bool") return define_friend_value<bool>(df, friends, branch, name);
    if (type == "Int_t" || type == "int") return define_friend_value<int>(df, friends, branch, name);
    if (type == "UInt_t" || type == "unsigned int") return define_friend_value<unsigned int>(df, friends, branch, name);
    if (type == "ULong64_t" || type == "unsigned long long") return define_friend_value<ULong64_t>(df, friends, branch, name);
    if (type == "Float_t" || type == "float") return define_friend_value<float>(df, friends, branch, name);
    if (type == "ROOT::VecOps::RVec<Float_t>" || type == "ROOT::VecOps::RVec<float>")
        return define_friend_array<float>(df, friends, branch, name);
    if (type == "ROOT::VecOps::RVec<Int_t>" || type == "ROOT::VecOps::RVec<int>")
        return define_friend_array<int>(df, friends, branch, name);
    throw std::invalid_argument("friend column " + branch + " has the type " + type +
                                ", which an RNTuple input's friend reader does not read");
}

// the input's dataframe with the friends' columns under their graph names
inline ROOT::RDF::RNode with_friends(ROOT::RDF::RNode df, const Friends& friends) {
    std::shared_ptr<FriendReader> reader;
    if (friends.by_entry) {
        if (ROOT::IsImplicitMTEnabled())
            throw std::invalid_argument("an RNTuple input with a friend file is read by one thread (threads 1)");
        reader = std::make_shared<FriendReader>(friends.tree, friends.files);
    }
    for (const auto& line : friends.columns) {
        const auto first = line.find(' '), second = line.find(' ', first + 1);
        const std::string branch = line.substr(0, first), name = line.substr(first + 1, second - first - 1),
                          type = line.substr(second + 1);
        if (reader) df = define_friend_column(df, reader, branch, name, type);
        else if (name != branch) df = df.Alias(name, friends.tree + "." + branch);
    }
    return df;
}

// the data of a run: every file of ``files`` (entries [begin, end) of all of them when end > 0),
// with ``friends`` beside them (none: no files)
inline ROOT::RDF::RNode make_dataframe(const char* tree, const std::vector<std::string>& files, long long begin,
                                       long long end, const Friends& friends = {}) {
    if (friends.files.empty() && end <= 0) return ROOT::RDataFrame(tree, files);
    ROOT::RDF::Experimental::RDatasetSpec spec;
    spec.AddSample(ROOT::RDF::Experimental::RSample("inputs", tree, files));
    if (!friends.files.empty() && !friends.by_entry) spec.WithGlobalFriends(friends.tree, friends.files, friends.tree);
    if (end > 0) spec.WithGlobalRange({begin, end});
    ROOT::RDF::RNode df = ROOT::RDataFrame(spec);
    return friends.files.empty() ? df : with_friends(df, friends);
}

}  // namespace tmet::frame

#endif
