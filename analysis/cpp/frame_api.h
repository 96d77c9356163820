// The C entry points of a compiled graph's library: its source (analysis/compiled.py)
// defines tmet_graph::Graph (its actions, the stages its data passes, its entry function)
// and includes this header last. They are called only through the library's handle; none
// calls another, since an exported name may resolve to the library loaded first.
#ifndef TMET_FRAME_API_H
#define TMET_FRAME_API_H

#include "frame.h"

TMET_API const char* tmet_key_name(int key) { return key >= 0 && key < tmet::N_KEYS ? tmet::KEY_NAMES[key] : ""; }

// "name type" of each input of a correction, one per line; "!" and the error on failure
TMET_API const char* tmet_correction_inputs(const char* file, const char* name, const char* content) {
    try {
        std::string out;
        for (const auto& input : tmet::correction_inputs(file, name, content)) out += input + "\n";
        return tmet::frame::error_text(out);
    } catch (const std::exception& e) {
        return tmet::frame::error_text(std::string("!") + e.what());
    }
}

// the correction bound as analysis.corrections.Binding says, with the graph's compiled code
// of ``code_key`` (if it has one) checked at ``n_points`` points of ``n_quantities``
// quantities (nullptr and ``error`` on failure); ``state``: 1 if the compiled code is used,
// 0 if there is none, -1 (``error``: where) if it disagreed with correctionlib
TMET_API const void* tmet_bind(const char* file, const char* name, const char* content, int n_inputs,
                               const int* sources, const char* const* fixed, int n_variations,
                               const char* const* variations, const char* spec, const char* code_key, int n_points,
                               int n_quantities, const double* points, int* state, const char** error) {
    try {
        *error = nullptr;
        const auto compiled = tmet_graph::compiled_correction(code_key);
        const auto* bound = tmet::bind_correction(
            file, name, content, std::vector<int>(sources, sources + n_inputs),
            std::vector<std::string>(fixed, fixed + n_inputs),
            std::vector<std::string>(variations, variations + n_variations), spec, compiled,
            std::vector<double>(points, points + size_t(n_points) * size_t(n_quantities)), size_t(n_quantities));
        *state = bound->is_compiled() ? 1 : (bound->mismatch.empty() ? 0 : -1);
        if (*state < 0) *error = tmet::frame::error_text(bound->mismatch);
        return bound;
    } catch (const std::exception& e) {
        *error = tmet::frame::error_text(e.what());
        return nullptr;
    }
}

// doubles of the buffer a run fills (tmet_graph::Graph::actions, see tmet::frame::Action)
TMET_API long long tmet_buffer_size() { return static_cast<long long>(tmet::frame::buffer_size(tmet_graph::Graph::actions())); }

// Run the graph over ``files`` (entries [begin, end) of them when end > 0) with ``threads``
// threads (implicit multithreading when more than one) and the corrections ``table`` (one
// per tmet::Key), adding its histograms to ``out``; nullptr, or the error that stopped it
TMET_API const char* tmet_run(const char* tree, int n_files, const char* const* files, long long begin,
                              long long end, int threads, const void* const* table, double* out) {
    try {
        const auto corrections = tmet::frame::correction_table(table);
        tmet::frame::ImplicitMT mt(threads);
        auto df = tmet::frame::make_dataframe(tree, std::vector<std::string>(files, files + n_files), begin, end);
        // not tmet_buffer_size(): an exported function may resolve to another library's
        const size_t size = tmet::frame::buffer_size(tmet_graph::Graph::actions());
        std::vector<std::vector<double>> slots(df.GetNSlots(), std::vector<double>(size, 0.0));
        tmet_graph::Graph::run(df, corrections, slots);
        for (const auto& slot : slots)
            for (size_t i = 0; i < size; ++i) out[i] += slot[i];
        return nullptr;
    } catch (const std::exception& e) {
        return tmet::frame::error_text(e.what());
    }
}

// Write the graph's snapshot of ``files`` (with the friend files ``friends``, one per file, their
// tree ``friend_tree``, their ``friend_columns`` as tmet::frame::Friends says, read entry by
// entry where ``by_entry``) to ``output`` (RECREATE, as a TTree or an RNTuple as ``format``
// says, compressed with ``algorithm`` (a ROOT name: ZLIB, LZMA, LZ4, ZSTD) at ``level``, a
// TTree's baskets flushed every ``autoflush`` entries), its number of entries to
// ``written``; nullptr, or the error
TMET_API const char* tmet_snapshot(const char* tree, int n_files, const char* const* files, int n_friends,
                                   const char* const* friends, const char* friend_tree, int n_friend_columns,
                                   const char* const* friend_columns, int by_entry, int threads,
                                   const void* const* table, const char* output, const char* format,
                                   const char* algorithm, int level, long long autoflush,
                                   unsigned long long* written) {
    try {
        const auto corrections = tmet::frame::correction_table(table);
        tmet::frame::ImplicitMT mt(threads);
        const tmet::frame::Friends with{friend_tree, std::vector<std::string>(friends, friends + n_friends),
                                        std::vector<std::string>(friend_columns, friend_columns + n_friend_columns),
                                        by_entry != 0};
        auto df = tmet::frame::make_dataframe(tree, std::vector<std::string>(files, files + n_files), 0, 0, with);
        ROOT::RDF::RSnapshotOptions options;
        options.fMode = "RECREATE";
        options.fOutputFormat = tmet::frame::output_format(format);
        options.fCompressionAlgorithm = tmet::frame::compression_algorithm(algorithm);
        options.fCompressionLevel = level;
        // a TTree option only (ROOT warns about it for an RNTuple, from a thread without the GIL)
        if (options.fOutputFormat == ROOT::RDF::ESnapshotOutputFormat::kTTree)
            options.fAutoFlush = static_cast<int>(autoflush);
        *written = tmet_graph::Graph::snapshot(df, corrections, output, options);
        return nullptr;
    } catch (const std::exception& e) {
        return tmet::frame::error_text(e.what());
    }
}

#endif
