"""The histograms of a store's Histograms outputs as one compact reference file, and back.

A reference pins the numbers of a version of the main job, so that a later change of the
event loop (a faster engine, another file layout) can be checked against it bin by bin:

    python scripts/histogram_reference.py STORE/Histograms/run2_2018_synth VERSION OUT.npz

The file holds, per histogram (``<dataset>/<file>:<category>/<variable>``), its bin contents
and squared errors with flow bins, and its entry count (the events in its category).
"""

import json
import os
import sys

import numpy as np


def read_histograms(directory, version):
    """{name: (contents, squared errors, entries)} of every TH1 in the Histograms outputs
    ``directory``/<dataset>/``version``/*.root (a config's directory of a store)."""
    import uproot

    out = {}
    for dataset in sorted(os.listdir(directory)):
        outputs = os.path.join(directory, dataset, version)
        for name in sorted(f for f in os.listdir(outputs) if f.endswith(".root")):
            with uproot.open(os.path.join(outputs, name)) as tfile:
                for key, kind in sorted(tfile.classnames().items()):
                    if kind.startswith("TH1"):
                        hist = tfile[key]
                        out[f"{dataset}/{name}:{key.split(';')[0]}"] = (
                            hist.values(flow=True), hist.variances(flow=True), float(hist.member("fEntries")))
    return out


def write_reference(path, hists):
    names = sorted(hists)
    sizes = np.array([len(hists[n][0]) for n in names])
    np.savez_compressed(
        path, names=np.array(json.dumps(names)), sizes=sizes,
        contents=np.concatenate([hists[n][0] for n in names]),
        variances=np.concatenate([hists[n][1] for n in names]),
        entries=np.array([hists[n][2] for n in names]))


def load_reference(path):
    """What ``write_reference`` wrote, as ``read_histograms`` returns it."""
    with np.load(path) as f:  # each f[key] decompresses its array anew: read each once
        names, sizes = json.loads(str(f["names"])), f["sizes"]
        contents, variances, entries = f["contents"], f["variances"], f["entries"]
    edges = np.cumsum([0, *sizes])
    return {name: (contents[a:b].copy(), variances[a:b].copy(), float(e))
            for name, a, b, e in zip(names, edges[:-1], edges[1:], entries)}


if __name__ == "__main__":
    write_reference(sys.argv[3], read_histograms(sys.argv[1], sys.argv[2]))
