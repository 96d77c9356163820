// STEP 1's output: the selected entries of NanoAOD input files, every Events branch as it is,
// with the columns of a selection file added (the top candidates), in NanoAOD's layout.
//
// The selection file (written by STEP 1's compiled graph, analysis/physics/top_candidates.py)
// holds a TTree whose entries are the selected ones, in order: ``tmet_entry`` (the entry of
// the inputs, counted over all of them) and the columns to add, as leaf arrays counted by
// their own counter. Real NanoAOD has well over a thousand branches, so the copy is no typed
// graph (its templates would be as long as the branch list) but runs over the branches:
// - a TTree input is cloned (its branches, leaf arrays and counters as they are) and each
//   selected entry read whole and filled, as NanoAOD-tools' post-processor does;
// - an RNTuple input (ROOT's RNTupleImporter layout: a field per branch, ``Jet_pt`` an RVec
//   beside its counter ``nJet``) is read field by field, each field of a number, a bool or
//   an RVec of them written as a leaf or a leaf array counted by its collection's counter.
// Loaded with ctypes like the graphs (analysis/engine/build.py builds it once).
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "Compression.h"
#include "ROOT/RNTupleReader.hxx"
#include "ROOT/RNTupleView.hxx"
#include "ROOT/RVec.hxx"
#include "TChain.h"
#include "TFile.h"
#include "TLeaf.h"
#include "TTree.h"
#include "c_api.h"

namespace {

const char* ENTRY = "tmet_entry";

// the added columns: the selection tree's branches but its entry, with buffers the
// selection tree reads into and the output tree writes from (the counters booked first)
struct Added {
    std::vector<std::unique_ptr<char[]>> buffers;
    ULong64_t entry = 0;

    Added(TTree& selection, TTree& out) {
        selection.SetBranchAddress(ENTRY, &entry);
        for (int pass = 0; pass < 2; ++pass) {  // scalars (counters) first, then arrays
            for (auto* object : *selection.GetListOfLeaves()) {
                auto* leaf = static_cast<TLeaf*>(object);
                const std::string name = leaf->GetName();
                if (name == ENTRY || (leaf->GetLeafCount() != nullptr) != (pass == 1)) continue;
                const int length = leaf->GetLeafCount() ? std::max(1, leaf->GetLeafCount()->GetMaximum()) : 1;
                buffers.emplace_back(new char[size_t(length) * leaf->GetLenType()]);
                selection.SetBranchAddress(name.c_str(), buffers.back().get());
                out.Branch(name.c_str(), buffers.back().get(), leaf->GetBranch()->GetTitle());
            }
        }
    }
};

// one field of an RNTuple written as a TTree leaf (array): booked once, bound to each file's
// reader in turn
struct Field {
    virtual ~Field() = default;
    virtual void bind(ROOT::RNTupleReader& reader) = 0;
    virtual void read(ROOT::NTupleSize_t i) = 0;
};

template <typename T>
constexpr char leaf_code() {
    if constexpr (std::is_same_v<T, bool>) return 'O';
    else if constexpr (std::is_same_v<T, float>) return 'F';
    else if constexpr (std::is_same_v<T, double>) return 'D';
    else if constexpr (std::is_signed_v<T>) return "BSIL"[sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3];
    else return "bsil"[sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3];
}

template <typename T>
struct Scalar : Field {
    std::string name;
    std::optional<ROOT::RNTupleView<T>> view;
    T value{};
    Scalar(TTree& out, const std::string& field) : name(field) {
        out.Branch(name.c_str(), &value, (name + "/" + leaf_code<T>()).c_str());
    }
    void bind(ROOT::RNTupleReader& reader) override { view.emplace(reader.GetView<T>(name)); }
    void read(ROOT::NTupleSize_t i) override { value = (*view)(i); }
};

template <typename T>
struct Array : Field {
    std::string name;
    std::optional<ROOT::RNTupleView<ROOT::RVec<T>>> view;
    std::unique_ptr<T[]> buffer{new T[1]};
    size_t capacity = 1;
    TBranch* branch;
    Array(TTree& out, const std::string& field, const std::string& counter) : name(field) {
        branch = out.Branch(name.c_str(), buffer.get(), (name + "[" + counter + "]/" + leaf_code<T>()).c_str());
    }
    void bind(ROOT::RNTupleReader& reader) override { view.emplace(reader.GetView<ROOT::RVec<T>>(name)); }
    void read(ROOT::NTupleSize_t i) override {
        const auto& values = (*view)(i);
        if (values.size() > capacity) {
            capacity = std::max(values.size(), 2 * capacity);
            buffer.reset(new T[capacity]);
            branch->SetAddress(buffer.get());
        }
        std::copy(values.begin(), values.end(), buffer.get());
    }
};

// a collection's size (the importer's counter "nJet"): a leaf of its integer type
template <typename T>
struct Cardinality : Field {
    std::string name;
    std::optional<ROOT::RNTupleView<ROOT::RNTupleCardinality<T>>> view;
    T value{};
    Cardinality(TTree& out, const std::string& field) : name(field) {
        out.Branch(name.c_str(), &value, (name + "/" + leaf_code<T>()).c_str());
    }
    void bind(ROOT::RNTupleReader& reader) override {
        view.emplace(reader.GetView<ROOT::RNTupleCardinality<T>>(name));
    }
    void read(ROOT::NTupleSize_t i) override { value = static_cast<T>((*view)(i)); }
};

// the element type of an RNTuple field's type name: "float" of "ROOT::VecOps::RVec<float>"
// or "std::vector<float>" (``array``: whether it is one), the name itself otherwise
std::string element(const std::string& type, bool& array) {
    for (const std::string prefix : {"ROOT::VecOps::RVec<", "ROOT::RVec<", "std::vector<"}) {
        if (type.rfind(prefix, 0) == 0 && type.back() == '>') {
            array = true;
            return type.substr(prefix.size(), type.size() - prefix.size() - 1);
        }
    }
    array = false;
    return type;
}

// the counter of array ``name`` among ``names``: the longest "n<Collection>" that counts it
std::string counter_of(const std::string& name, const std::vector<std::string>& names) {
    std::string best;
    for (const auto& counter : names) {
        if (counter.size() < 2 || counter[0] != 'n') continue;
        const std::string collection = counter.substr(1);
        if ((name == collection || name.rfind(collection + "_", 0) == 0) && counter.size() > best.size()) best = counter;
    }
    if (best.empty()) throw std::invalid_argument("RNTuple field '" + name + "' is an array without a counter field");
    return best;
}

template <typename T>
std::unique_ptr<Field> make_field(TTree& out, const std::string& name, bool array, const std::vector<std::string>& names) {
    if (array) return std::make_unique<Array<T>>(out, name, counter_of(name, names));
    return std::make_unique<Scalar<T>>(out, name);
}

std::unique_ptr<Field> field_of(TTree& out, const std::string& name, const std::string& type,
                                const std::vector<std::string>& names) {
    if (type == "ROOT::RNTupleCardinality<std::uint32_t>") return std::make_unique<Cardinality<std::uint32_t>>(out, name);
    if (type == "ROOT::RNTupleCardinality<std::uint64_t>") return std::make_unique<Cardinality<std::uint64_t>>(out, name);
    bool array = false;
    const std::string e = element(type, array);
    if (e == "bool") return make_field<bool>(out, name, array, names);
    if (e == "float") return make_field<float>(out, name, array, names);
    if (e == "double") return make_field<double>(out, name, array, names);
    if (e == "std::int8_t" || e == "char") return make_field<std::int8_t>(out, name, array, names);
    if (e == "std::uint8_t") return make_field<std::uint8_t>(out, name, array, names);
    if (e == "std::int16_t") return make_field<std::int16_t>(out, name, array, names);
    if (e == "std::uint16_t") return make_field<std::uint16_t>(out, name, array, names);
    if (e == "std::int32_t") return make_field<std::int32_t>(out, name, array, names);
    if (e == "std::uint32_t") return make_field<std::uint32_t>(out, name, array, names);
    if (e == "std::int64_t") return make_field<std::int64_t>(out, name, array, names);
    if (e == "std::uint64_t") return make_field<std::uint64_t>(out, name, array, names);
    throw std::invalid_argument("RNTuple field '" + name + "' of type " + type +
                                " is no number, bool or array of them: NanoAOD cannot hold it");
}

// copy the selected entries of the RNTuples ``tree`` of ``files`` into ``out``
unsigned long long copy_rntuples(const std::string& tree, const std::vector<std::string>& files, TTree& selection,
                                 TTree& out) {
    std::vector<std::unique_ptr<ROOT::RNTupleReader>> readers;
    std::vector<ULong64_t> starts{0};
    for (const auto& file : files) {
        readers.push_back(ROOT::RNTupleReader::Open(tree, file));
        starts.push_back(starts.back() + readers.back()->GetNEntries());
    }
    std::vector<std::string> names;
    std::vector<std::string> types;
    for (const auto& field : readers.front()->GetDescriptor().GetTopLevelFields()) {
        if (field.GetFieldName().rfind("_", 0) == 0) continue;  // the importer's collections
        names.push_back(field.GetFieldName());
        types.push_back(field.GetTypeName());
    }
    std::vector<std::unique_ptr<Field>> fields;
    for (int pass = 0; pass < 2; ++pass)  // scalars (the counters) first, then the arrays
        for (size_t i = 0; i < names.size(); ++i) {
            bool array = false;
            element(types[i], array);
            if (array == (pass == 1)) fields.push_back(field_of(out, names[i], types[i], names));
        }
    Added added(selection, out);
    size_t current = 0;
    for (auto& field : fields) field->bind(*readers[current]);
    for (Long64_t j = 0; j < selection.GetEntries(); ++j) {
        selection.GetEntry(j);
        if (added.entry >= starts[current + 1]) {  // entries come in order: the next file holding it
            while (added.entry >= starts[current + 1]) ++current;
            for (auto& field : fields) field->bind(*readers[current]);
        }
        for (auto& field : fields) field->read(added.entry - starts[current]);
        out.Fill();
    }
    return static_cast<unsigned long long>(out.GetEntries());
}

}  // namespace

// Write the selected entries (``selection`` file, see above) of the ``tree`` of ``files``
// (TTrees, or RNTuples where ``rntuple``) with the selection's columns into ``output``
// (RECREATE, compressed with ``algorithm`` at ``level``, baskets flushed every ``autoflush``
// entries); the entries written to ``written``; nullptr, or the error
TMET_API const char* tmet_copy_selected(const char* tree, int n_files, const char* const* files, int rntuple,
                                        const char* selection, const char* output, const char* algorithm, int level,
                                        long long autoflush, unsigned long long* written) {
    try {
        std::unique_ptr<TFile> selected(TFile::Open(selection, "READ"));
        auto* chosen = selected ? selected->Get<TTree>(tree) : nullptr;
        if (!chosen) throw std::runtime_error(std::string("no selection tree in ") + selection);
        const std::string name(algorithm);
        const auto a = name == "LZMA" ? ROOT::RCompressionSetting::EAlgorithm::kLZMA
                       : name == "ZLIB" ? ROOT::RCompressionSetting::EAlgorithm::kZLIB
                       : name == "LZ4"  ? ROOT::RCompressionSetting::EAlgorithm::kLZ4
                       : name == "ZSTD" ? ROOT::RCompressionSetting::EAlgorithm::kZSTD
                                        : throw std::invalid_argument("unknown compression algorithm " + name);
        std::unique_ptr<TFile> out(TFile::Open(output, "RECREATE", "", ROOT::CompressionSettings(a, level)));
        if (!out || out->IsZombie()) throw std::runtime_error(std::string("cannot create ") + output);
        std::vector<std::string> paths(files, files + n_files);
        if (rntuple) {
            auto* events = new TTree(tree, tree);  // owned by the file
            events->SetAutoFlush(autoflush);
            *written = copy_rntuples(tree, paths, *chosen, *events);
        } else {
            TChain chain(tree);
            for (const auto& path : paths) chain.Add(path.c_str());
            out->cd();
            TTree* events = chain.CloneTree(0);
            events->SetAutoFlush(autoflush);
            Added added(*chosen, *events);
            for (Long64_t j = 0; j < chosen->GetEntries(); ++j) {
                chosen->GetEntry(j);
                if (chain.GetEntry(static_cast<Long64_t>(added.entry)) <= 0)
                    throw std::runtime_error("cannot read entry " + std::to_string(added.entry) + " of the inputs");
                events->Fill();
            }
            *written = static_cast<unsigned long long>(events->GetEntries());
        }
        out->Write();
        out->Close();
        return nullptr;
    } catch (const std::exception& e) {
        return text(e.what());
    }
}
