// A compiled graph's snapshot in NanoAOD's own layout: a TTree whose scalar columns are
// leaves of their type and whose RVec columns are leaf arrays counted by their collection's
// counter ("Jet_pt[nJet]/F"), as CMS writes NanoAOD and as NanoAOD readers (uproot, coffea,
// NanoAOD-tools) expect it. RDataFrame's own Snapshot writes a defined RVec column as an
// RVec object, and an RNTuple input's collections the same way, so STEP 1 (TopCandidates)
// writes its events with this writer instead.
#ifndef TMET_NANO_WRITER_H
#define TMET_NANO_WRITER_H

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ROOT/RDataFrame.hxx"
#include "ROOT/RSnapshotOptions.hxx"
#include "ROOT/RVec.hxx"
#include "TFile.h"
#include "TTree.h"

namespace tmet::nano {

// the leaf type code of a C++ type (TTree::Branch's leaf list)
template <typename T>
constexpr char leaf_code() {
    if constexpr (std::is_same_v<T, bool>) return 'O';
    else if constexpr (std::is_same_v<T, float>) return 'F';
    else if constexpr (std::is_same_v<T, double>) return 'D';
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) == 1) return 'B';
    else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) == 1) return 'b';
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) == 2) return 'S';
    else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) == 2) return 's';
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) == 4) return 'I';
    else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) == 4) return 'i';
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) == 8) return 'L';
    else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) == 8) return 'l';
    else return '\0';
}

// whether ``counter`` ("n<Collection>") counts the array column ``name``: "nJet" counts
// "Jet_pt", "nLHEScaleWeight" counts "LHEScaleWeight", "nProton_multiRP" "Proton_multiRP_arm"
inline bool counts(const std::string& counter, const std::string& name) {
    if (counter.size() < 2 || counter[0] != 'n') return false;
    const std::string collection = counter.substr(1);
    return name == collection || name.rfind(collection + "_", 0) == 0;
}

// one scalar column: a leaf of its own
template <typename T>
struct Column {
    static_assert(leaf_code<T>() != '\0', "a NanoAOD column is a number, a bool or an RVec of them");
    static constexpr bool is_array = false;
    T value{};
    std::string name;

    void book(TTree& tree, const std::string&) { tree.Branch(name.c_str(), &value, (name + "/" + leaf_code<T>()).c_str()); }
    void set(const T& v) { value = v; }
    unsigned long long count() const { return static_cast<unsigned long long>(value); }
};

// one RVec column: a leaf array counted by its collection's counter column
template <typename T>
struct Column<ROOT::RVec<T>> {
    static_assert(leaf_code<T>() != '\0', "a NanoAOD column is a number, a bool or an RVec of them");
    static constexpr bool is_array = true;
    std::unique_ptr<T[]> buffer{new T[1]};
    size_t capacity = 1, size = 0;
    std::string name;
    TBranch* branch = nullptr;

    void book(TTree& tree, const std::string& counter) {
        branch = tree.Branch(name.c_str(), buffer.get(), (name + "[" + counter + "]/" + leaf_code<T>()).c_str());
    }
    void set(const ROOT::RVec<T>& v) {
        if (v.size() > capacity) {
            capacity = std::max(v.size(), 2 * capacity);
            buffer.reset(new T[capacity]);
            branch->SetAddress(buffer.get());
        }
        std::copy(v.begin(), v.end(), buffer.get());
        size = v.size();
    }
};

// the columns of one snapshot, booked scalars first (the counters must exist before the leaf
// arrays they count), each array's size checked against its counter in every entry
template <typename... Ts>
struct Writer {
    std::tuple<Column<Ts>...> columns;
    std::vector<std::string> names;
    std::vector<int> counter_index;  // per column: the index of its counter (arrays), else -1
    TTree* tree = nullptr;

    Writer(TTree& t, const std::vector<std::string>& column_names) : names(column_names), tree(&t) {
        if (names.size() != sizeof...(Ts)) throw std::logic_error("a NanoAOD snapshot needs a name per column");
        name_all(std::index_sequence_for<Ts...>{});
        book_all(std::index_sequence_for<Ts...>{}, false);
        book_all(std::index_sequence_for<Ts...>{}, true);
    }
    template <size_t... I>
    void name_all(std::index_sequence<I...>) {
        counter_index.assign(sizeof...(Ts), -1);
        ((std::get<I>(columns).name = names[I]), ...);
        (find_counter<I>(), ...);
    }
    // the counter of array column I: the longest scalar "n<Collection>" that counts it
    template <size_t I>
    void find_counter() {
        using C = std::tuple_element_t<I, std::tuple<Column<Ts>...>>;
        if constexpr (C::is_array) {
            const std::vector<bool> scalar = {!Column<Ts>::is_array...};
            for (size_t k = 0; k < names.size(); ++k)
                if (scalar[k] && counts(names[k], names[I]) &&
                    (counter_index[I] < 0 || names[k].size() > names[counter_index[I]].size()))
                    counter_index[I] = static_cast<int>(k);
            if (counter_index[I] < 0)
                throw std::invalid_argument("array column '" + names[I] + "' has no counter (n<Collection>) among "
                                            "the columns written: NanoAOD cannot hold it");
        }
    }
    template <size_t... I>
    void book_all(std::index_sequence<I...>, bool arrays) {
        ((std::tuple_element_t<I, std::tuple<Column<Ts>...>>::is_array == arrays
              ? std::get<I>(columns).book(*tree, counter_index[I] < 0 ? std::string() : names[counter_index[I]])
              : void()),
         ...);
    }
    template <size_t I>
    unsigned long long count_of() const {
        using C = std::tuple_element_t<I, std::tuple<Column<Ts>...>>;
        if constexpr (C::is_array) return 0;
        else return std::get<I>(columns).count();
    }
    template <size_t... I>
    unsigned long long counter_value(int index, std::index_sequence<I...>) const {
        unsigned long long value = 0;
        ((static_cast<int>(I) == index ? (value = count_of<I>(), void()) : void()), ...);
        return value;
    }
    template <size_t I>
    void check_size() const {
        using C = std::tuple_element_t<I, std::tuple<Column<Ts>...>>;
        if constexpr (C::is_array) {
            const auto counted = counter_value(counter_index[I], std::index_sequence_for<Ts...>{});
            if (counted != std::get<I>(columns).size)
                throw std::runtime_error("column '" + names[I] + "' holds " + std::to_string(std::get<I>(columns).size) +
                                         " values where its counter '" + names[counter_index[I]] + "' says " +
                                         std::to_string(counted));
        }
    }
    void operator()(const Ts&... values) {
        set_all(std::index_sequence_for<Ts...>{}, values...);
        check_all(std::index_sequence_for<Ts...>{});
        tree->Fill();
    }
    template <size_t... I>
    void set_all(std::index_sequence<I...>, const Ts&... values) {
        (std::get<I>(columns).set(values), ...);
    }
    template <size_t... I>
    void check_all(std::index_sequence<I...>) const {
        (check_size<I>(), ...);
    }
};

// Write the entries of ``node`` (after its filters) with ``columns`` (of types Ts) into the
// TTree ``tree_name`` of ``path`` (RECREATE, compressed as ``options`` say); one thread
// (a TTree is filled in entry order). Returns the entries written.
template <typename... Ts>
unsigned long long snapshot(ROOT::RDF::RNode node, const std::string& tree_name, const std::string& path,
                            const std::vector<std::string>& columns, const ROOT::RDF::RSnapshotOptions& options) {
    if (node.GetNSlots() > 1)
        throw std::logic_error("a NanoAOD snapshot is written by one thread (run it with threads=1)");
    auto file = std::unique_ptr<TFile>(TFile::Open(path.c_str(), "RECREATE", "",
                                                   ROOT::CompressionSettings(options.fCompressionAlgorithm,
                                                                             options.fCompressionLevel)));
    if (!file || file->IsZombie()) throw std::runtime_error("cannot create " + path);
    auto* tree = new TTree(tree_name.c_str(), tree_name.c_str());  // owned by the file
    if (options.fAutoFlush) tree->SetAutoFlush(options.fAutoFlush);
    Writer<Ts...> writer(*tree, columns);
    node.Foreach([&writer](const Ts&... values) { writer(values...); }, columns);
    const auto entries = static_cast<unsigned long long>(tree->GetEntries());
    file->Write();
    file->Close();
    return entries;
}

}  // namespace tmet::nano

#endif
