// What tmet's plain C++ libraries (schema.cxx, nano_copy.cxx, loaded with ctypes) share: how
// they export their functions, and the text they hand back to Python.
#pragma once

#include <string>

#define TMET_API extern "C" __attribute__((visibility("default")))

namespace {
// ``value`` kept for this thread until its next call: ctypes copies it on return
const char* text(const std::string& value) {
    static thread_local std::string last;
    last = value;
    return last.c_str();
}
}  // namespace
