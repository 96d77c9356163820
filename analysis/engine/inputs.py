"""Input files: LFNs to root:// URLs, opening with retries, and checks before the event loop.

Every failure here names the file (and the redirectors tried) so that a user sees which
input is bad instead of a crash inside the event loop.
"""

import functools
import hashlib
import os
import time

from analysis.engine import root_setup
from analysis.engine.schema import entries as count_entries
from analysis.engine.schema import input_schema
from analysis.errors import TmetError


def candidate_urls(path, redirectors):
    """URLs to try for ``path``: an LFN (``/store/...``) through each redirector in order,
    anything else (a local path or a full URL) as it is."""
    if path.startswith("/store/"):
        if not redirectors:
            raise TmetError(f"{path} is an LFN but the config lists no XRootD redirectors")
        return [f"{redirector.rstrip('/')}/{path}" for redirector in redirectors]
    return [path]


def open_file(path, redirectors=(), retries=3, delay=2.0):
    """(url, TFile) of the first candidate URL of ``path`` that opens, each tried ``retries`` times.

    A file that opens but is a zombie or needed recovery (truncated, never closed) is an
    error at once: retrying cannot fix it.
    """
    ROOT = root_setup.import_root()
    urls = candidate_urls(path, redirectors)
    for url in urls:
        for attempt in range(retries):
            try:
                tfile = ROOT.TFile.Open(url, "READ")
            except OSError:  # the pythonization raises where C++ returns nullptr
                tfile = None
            if tfile and not tfile.IsZombie():
                if tfile.TestBit(ROOT.TFile.kRecovered):
                    tfile.Close()
                    raise TmetError(f"{url} is truncated or was not closed properly (ROOT had to recover it)")
                return url, tfile
            if not url.startswith("root://"):
                break
            if attempt + 1 < retries:
                time.sleep(delay)
    if not path.startswith("/store/") and not path.startswith("root://"):
        raise TmetError(f"cannot open {path}: it does not exist, is not a ROOT file or is truncated")
    tried = ", ".join(urls)
    detail = f" (redirectors tried in order: {', '.join(redirectors)})" if path.startswith("/store/") else ""
    raise TmetError(f"cannot open {path}: tried {tried}{detail}, {retries} attempt(s) each")


def check_inputs(paths, tree_name, branches, redirectors=(), retries=3, delay=2.0, hints=None):
    """URLs of ``paths`` that open, each checked to hold ``tree_name`` (a TTree, or an RNTuple
    in the layout ROOT's RNTupleImporter writes NanoAOD: a field per branch) with every
    branch of ``branches``; ``hints``: {branch (or the tree): what its absence means}, added
    to the error.

    Returns (urls, entries of each). Raises before any event loop runs, naming file and branch.
    """
    urls, entries = [], []
    for path in paths:
        url, tfile = open_file(path, redirectors, retries, delay)
        try:
            key = tfile.GetKey(tree_name)
            kind = key.GetClassName() if key else ""
            if kind == "ROOT::RNTuple":
                present = set(input_schema(url, tree_name))
                entries.append(count_entries(url, tree_name))
            elif kind and (tree := tfile.Get(tree_name)).InheritsFrom("TTree"):
                present = {b.GetName() for b in tree.GetListOfBranches()}
                entries.append(tree.GetEntries())
            else:
                hint = (hints or {}).get(tree_name)
                raise TmetError(f"{url} has no '{tree_name}' tree or RNTuple" + (f": {hint}" if hint else ""))
            missing = [b for b in branches if b not in present]
            if missing:
                hint = next(((hints or {})[b] for b in missing if b in (hints or {})), None)
                raise TmetError(f"{url}: branch '{missing[0]}' missing from tree '{tree_name}'"
                                + (f" (and {len(missing) - 1} more: {', '.join(missing[1:])})" if len(missing) > 1 else "")
                                + (f": {hint}" if hint else ""))
        finally:
            tfile.Close()
        urls.append(url)
    return urls, entries


def file_digest(path):
    """A digest of the content of a local file ("missing" where it does not exist), for the
    provenance of what reads it; remembered per process while its size and mtime stay."""
    if not os.path.exists(path):
        return "missing"
    info = os.stat(path)
    return _content_digest(path, info.st_size, info.st_mtime_ns)


@functools.cache
def _content_digest(path, size, mtime):
    del size, mtime  # part of the cache key only
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def read_whole(path, tree_name="Events"):
    """Read every entry of every branch of ``tree_name`` in ``path`` (raises, or crashes, where
    the file is corrupt): used to find which input of a crashed event loop is bad."""
    ROOT = root_setup.import_root()
    ROOT.gInterpreter.Declare("""
        #ifndef TMET_READ_WHOLE
        #define TMET_READ_WHOLE
        #include "ROOT/RNTupleReader.hxx"
        inline long long tmet_first_unreadable_entry(TTree* tree) {
            for (long long i = 0; i < tree->GetEntries(); ++i) if (tree->GetEntry(i) < 0) return i;
            return -1;
        }
        // an RNTuple (a skim) throws where a page cannot be read
        inline long long tmet_first_unreadable_ntuple_entry(const char* name, const char* path) {
            auto reader = ROOT::RNTupleReader::Open(name, path);
            for (ROOT::NTupleSize_t i = 0; i < reader->GetNEntries(); ++i) reader->LoadEntry(i);
            return -1;
        }
        #endif
    """)
    _, tfile = open_file(path)
    tree = tfile.Get(tree_name)
    if tree and tree.InheritsFrom("TTree"):
        entry = ROOT.tmet_first_unreadable_entry(tree)
    else:
        entry = ROOT.tmet_first_unreadable_ntuple_entry(tree_name, path)
    tfile.Close()
    if entry >= 0:
        raise TmetError(f"{path}: entry {entry} of '{tree_name}' cannot be read")
