// What a compiled graph needs to know about its input files before its source is written:
// the columns and their C++ types, and the entries (to split them into Dask partitions).
// Loaded with ctypes like the graphs' libraries (analysis/engine/build.py builds it once).
#include <memory>
#include <stdexcept>
#include <string>

#include "ROOT/RDataFrame.hxx"
#include "ROOT/RNTupleReader.hxx"
#include "TFile.h"
#include "TTree.h"
#include "c_api.h"

// "name type" of every column of ``tree`` (a TTree or an RNTuple) in ``file``, one per
// line, as RDataFrame reads them; "!" and the error on failure
TMET_API const char* tmet_schema(const char* tree, const char* file) {
    try {
        ROOT::RDataFrame df(tree, file);
        std::string out;
        for (const auto& name : df.GetColumnNames()) out += name + " " + df.GetColumnType(name) + "\n";
        return text(out);
    } catch (const std::exception& e) {
        return text(std::string("!") + e.what());
    }
}

// entries of ``tree`` (a TTree or an RNTuple) in ``file``; -1 and ``error`` on failure
TMET_API long long tmet_entries(const char* tree, const char* file, const char** error) {
    *error = nullptr;
    try {
        std::unique_ptr<TFile> f(TFile::Open(file, "READ"));
        if (!f || f->IsZombie()) throw std::runtime_error(std::string("cannot open ") + file);
        if (auto* t = f->Get<TTree>(tree)) return t->GetEntries();
        return static_cast<long long>(ROOT::RNTupleReader::Open(tree, file)->GetNEntries());
    } catch (const std::exception& e) {
        *error = text(e.what());
        return -1;
    }
}
