"""The selected entries of NanoAOD files copied whole, with columns added, in NanoAOD's layout
(analysis/cpp/nano_copy.cxx: a TTree input cloned branch by branch, an RNTuple input read
field by field): how STEP 1 writes every input branch of its preselected events, however
many there are, without a graph typed over all of them."""

import ctypes
import os

from analysis.engine import build
from analysis.errors import TmetError

SOURCE = "nano_copy.cxx"


def library_path():
    """The copier's library, built unless cached (once per toolchain and source)."""
    with open(os.path.join(build.CPP_DIR, SOURCE)) as f:
        return build.build("tmet_nano_copy", f.read(), ("c_api.h",))


def copy_selected(path, tree, files, rntuple, selection, output, compression, autoflush=10000):
    """Write the entries of ``selection`` (a file whose ``tree`` holds ``tmet_entry``, the
    entries of ``files`` counted over all of them, and the columns to add) from the ``tree``
    of ``files`` (RNTuples where ``rntuple``) into ``output``, compressed as ``compression``
    ({algorithm, level}) says, with the copier's library at ``path``; returns the entries."""
    function = build.load(path).tmet_copy_selected
    function.restype = ctypes.c_char_p
    function.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_longlong,
                         ctypes.POINTER(ctypes.c_ulonglong)]
    names = (ctypes.c_char_p * len(files))(*(f.encode() for f in files))
    written = ctypes.c_ulonglong()
    error = function(tree.encode(), len(files), names, int(rntuple), selection.encode(), output.encode(),
                     str(compression["algorithm"]).encode(), int(compression["level"]), autoflush, ctypes.byref(written))
    if error is not None:
        raise TmetError(f"writing {output} from {', '.join(files)} failed: {error.decode()}")
    return written.value
