"""What a compiled graph knows of its input files before its source is written: their
columns with the C++ types RDataFrame reads them as (a TTree's or an RNTuple's), and their
entries (to split them into Dask partitions), from a small compiled helper
(analysis/cpp/schema.cxx, built once like the graphs and loaded with ctypes)."""

import ctypes
import functools
import os

from analysis.engine import build
from analysis.errors import TmetError

SCHEMA_SOURCE = "schema.cxx"


@functools.cache
def _schema_library():
    with open(os.path.join(build.CPP_DIR, SCHEMA_SOURCE)) as f:
        lib = build.load(build.build("tmet_schema", f.read(), ("c_api.h",)))
    lib.tmet_schema.restype = ctypes.c_char_p
    lib.tmet_entries.restype = ctypes.c_longlong
    lib.tmet_entries.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    return lib


def input_schema(path, tree="Events"):
    """{column: C++ type} of ``tree`` in ``path``, as RDataFrame reads it."""
    text = _schema_library().tmet_schema(tree.encode(), path.encode()).decode()
    if text.startswith("!"):
        raise TmetError(f"cannot read the columns of '{tree}' in {path}: {text[1:]}")
    return dict(line.split(" ", 1) for line in text.splitlines())


def readable_inputs(paths, tree="Events"):
    """(``paths`` without the files that hold no entries, or all of them if none does; their
    entries): a dataset's empty skims are TTrees (Library.snapshot) among RNTuples, which
    one RDataFrame cannot read together, and contribute nothing."""
    counts = [entries(p, tree) for p in paths]
    kept = [(p, n) for p, n in zip(paths, counts) if n] or list(zip(paths, counts))
    return [p for p, _ in kept], [n for _, n in kept]


def entries(path, tree="Events"):
    error = ctypes.c_char_p()
    n = _schema_library().tmet_entries(tree.encode(), path.encode(), ctypes.byref(error))
    if n < 0:
        raise TmetError(f"cannot count the entries of '{tree}' in {path}: {error.value.decode()}")
    return n
