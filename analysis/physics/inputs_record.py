"""What a STEP 1 output or a skim keeps of its inputs besides their events.

Both cut events away, so both record, for MC, what normalises the dataset from all its
generated events: the sum of generator weights (``SUMW``: per input ``Runs.genEventSumw``,
or the legacy ``genEventSumw_``, or, for a file without either, the sum of its events'
``genWeight``) and, per entry of each generator-weight array a shift normalises its
templates with (config.shifts' ``sumw``), the sum of genWeight times that entry
(``SUMW_ARRAY``, from the Runs sums or the events likewise). A tmet STEP 1 output's own
record is taken before anything else, since its events are preselected. The trees that
travel with the events (``Runs``, ``LuminosityBlocks``) are copied whole, and a STEP 1 output
records the preselection it applied (``STEP1_RECORD``), which the skim checks against its own
(analysis.physics.checks).

Reading the record is also where the inputs' generator-weight arrays are checked, before any
event loop: a length outside NanoAOD's layouts (nanoaod.WEIGHT_ARRAYS) would give the theory
shifts no effect, so it is an error naming the file and the length.
"""

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from analysis.engine import root_setup
from analysis.errors import TmetError
from analysis.physics.nanoaod import ABSENT_LENGTHS, WEIGHT_ARRAYS, runs_array_sums
from config.shifts import weight_sources

# the TParameter<double> holding the sum of generator weights of the inputs
SUMW = "tmet_sumw"
# the TVectorD holding, per entry of a generator-weight array, the sum of genWeight x the entry
SUMW_ARRAY = "tmet_sumw__{}"
# the TNamed of a tmet STEP 1 output holding its preselection (JSON)
STEP1_RECORD = "tmet_step1_preselection"
# Runs branches holding a file's sum of generator weights, preferred first (NanoAOD before
# v7 named it genEventSumw_)
RUNS_SUMW_BRANCHES = ("genEventSumw", "genEventSumw_")


# where an input's sums came from when its Runs tree lacks them: its events
EVENTS = "genWeight"


@dataclass
class LoopResult:
    """Events before and after a STEP 1 or skim loop, and per MC input where its sums came
    from: {url: {"sumw": a Runs branch, SUMW (a STEP 1 output's record) or EVENTS, and per
    summed weight array: its Runs sum, SUMW, EVENTS or "missing"}}."""

    events_in: int
    events_out: int
    sources: dict

    def fallbacks(self):
        """(input, what) of every sum that came from the input's events: "sumw" or a weight array."""
        return [(url, what) for url, found in self.sources.items() for what, source in found.items()
                if source == EVENTS]


@dataclass(frozen=True)
class GeneratorWeights:
    """What an MC dataset's inputs must hold of the generator-weight arrays: ``lengths``
    {array: the lengths accepted} of the arrays the weight shifts read (their layouts, or
    ABSENT_LENGTHS for those the dataset says its samples lack, ``missing``), and the arrays
    whose entries' sums normalise templates (``summed``)."""

    lengths: dict
    summed: tuple
    missing: tuple


def generator_weights(config, missing=()):
    """The GeneratorWeights of an MC dataset of ``config`` whose samples lack the arrays
    ``missing`` (its ``missing_weights``)."""
    read = [b for source in weight_sources(config) for b in source.x.branches if b in WEIGHT_ARRAYS]
    summed = [array for source in weight_sources(config) for array, _ in (source.x.sumw or {}).values()]
    return GeneratorWeights(
        {array: ABSENT_LENGTHS if array in missing else WEIGHT_ARRAYS[array]["lengths"] for array in dict.fromkeys(read)},
        tuple(dict.fromkeys(summed)), tuple(missing))


def used_config(config, dataset):
    """The config values the record of ``dataset``'s inputs depends on (its STEP 1 outputs'
    and skims'): which generator-weight arrays are checked and summed (MC)."""
    return {} if dataset.is_data else {"generator_weights": asdict(generator_weights(config, dataset.x.missing_weights))}


@dataclass
class WeightSums:
    """The sums that normalise an MC dataset: of its generator weights (``sumw``) and, per
    summed weight array, of genWeight x each of its entries (``arrays``)."""

    sumw: float
    arrays: dict = field(default_factory=dict)

    def of(self, shift):
        """The sum that normalises the templates of ``shift`` (an order shift): its generator
        weight entry's where it has one (config.shifts' ``sumw``), else the nominal one."""
        normalised = shift.aux.get("sumw")
        if not normalised:
            return self.sumw
        array, entry = normalised[shift.direction]
        return float(self.arrays[array][entry])

    def __add__(self, other):
        return WeightSums(self.sumw + other.sumw, {a: np.add(v, other.arrays[a]) for a, v in self.arrays.items()})


@dataclass
class InputsRecord:
    """What a skim or STEP 1 output keeps of its inputs besides their events: the trees it
    copies whole (``trees``: {name: [urls that hold it]}), the MC WeightSums before any cut
    (``sums``, None for data) with where each input's came from (``sources``, as
    LoopResult's), whether each input's Events is a "TTree" or an "RNTuple" (``kinds``)
    and the STEP 1 preselection each recorded ({url: preselection or None}, ``step1``)."""

    trees: dict
    sums: WeightSums
    sources: dict
    kinds: dict
    step1: dict


def read_inputs_record(ROOT, urls, tree_names, weights=None):
    """The InputsRecord of ``urls``, each opened once, for the trees ``tree_names``;
    ``weights``: the GeneratorWeights of an MC dataset (checked, then summed), None for data."""
    trees, sources, kinds, step1, sums = {}, {}, {}, {}, None
    for url in urls:
        tfile = ROOT.TFile.Open(url)
        try:
            key = tfile.GetKey("Events")
            kinds[url] = "RNTuple" if key and key.GetClassName() == "ROOT::RNTuple" else "TTree"
            for name in tree_names:
                tree = tfile.Get(name)
                if tree and tree.InheritsFrom("TTree"):
                    trees.setdefault(name, []).append(url)
            recorded = tfile.Get(STEP1_RECORD)
            step1[url] = json.loads(recorded.GetTitle()) if recorded else None
            if weights is not None:
                check_weight_arrays(ROOT, url, tfile, kinds[url], weights)
                value, sources[url] = input_sums(ROOT, url, tfile, weights)
                sums = value if sums is None else sums + value
        finally:
            tfile.Close()
    if weights is not None and sums is None:
        sums = WeightSums(0.0, {a: np.zeros(WEIGHT_ARRAYS[a]["entries"]) for a in weights.summed})
    return InputsRecord(trees, sums, sources, kinds, step1)


def check_weight_arrays(ROOT, url, tfile, kind, weights):
    """Raise a TmetError naming ``url``, the array and its length where an event holds a
    generator-weight array of a length ``weights`` does not accept."""
    if not weights.lengths:
        return
    if kind == "TTree":
        tree = tfile.Get("Events")
        if not tree.GetEntries():
            return
        ranges = {array: (int(tree.GetMinimum(f"n{array}")), int(tree.GetMaximum(f"n{array}")))
                  for array in weights.lengths}
    else:  # an RNTuple (the layout of RNTupleImporter): the arrays' sizes, jitted
        df = ROOT.RDataFrame("Events", url)
        booked = {array: (df.Define(f"tmet_n_{array}", f"int({array}.size())"), f"tmet_n_{array}")
                  for array in weights.lengths}
        booked = {array: (d.Min(column), d.Max(column)) for array, (d, column) in booked.items()}
        if not df.Count().GetValue():
            return
        ranges = {array: (int(low.GetValue()), int(high.GetValue())) for array, (low, high) in booked.items()}
    for array, lengths in weights.lengths.items():
        bad = [n for n in ranges[array] if n not in lengths]
        if not bad:
            continue
        shifts = "the theory shifts reading it"
        if array in weights.missing:
            raise TmetError(f"{url}: {array} has {bad[0]} entries in some events, but its dataset says its samples "
                            f"store none ('missing_weights: [{array}]' in the datasets YAML): drop {array} from "
                            f"missing_weights, so that {shifts} use it")
        raise TmetError(
            f"{url}: {array} has {bad[0]} entries in some events, not one of NanoAOD's layouts "
            f"({', '.join(map(str, lengths))}): {shifts} cannot tell which entry is which. "
            + (f"A sample that stores no {array} has one entry of 1: if that is this one, say so for its dataset "
               f"with 'missing_weights: [{array}]' in the datasets YAML (those shifts are then its nominal)"
               if bad[0] in ABSENT_LENGTHS else "Check the sample, or read it with a weight shift of its own "
                                                "(config/shifts.py)"))


def input_sums(ROOT, url, tfile, weights):
    """(WeightSums, {"sumw" or array: where it came from}) of one unskimmed MC file: what a
    tmet STEP 1 output recorded of its own inputs (its events are preselected), else its Runs
    sums (a plain loop over their few entries), else its events' (one jitted loop); the
    arrays its samples lack are summed as 1."""
    summed = [a for a in weights.summed if a not in weights.missing]
    recorded = read_weight_sums(tfile)
    if recorded is not None and all(a in recorded.arrays for a in summed):
        sums, sources = recorded, dict.fromkeys(["sumw", *summed], SUMW)
    else:
        sumw, branch, arrays = _runs_sums(tfile, summed)
        sources = {"sumw": branch, **{a: name for a, (_, name) in arrays.items()}}
        arrays = {a: values for a, (values, _) in arrays.items()}
        needed = [a for a in summed if a not in arrays]
        if sumw is None or needed:
            events_sumw, events_arrays = _events_sums(ROOT, url, needed)
            if sumw is None:
                sumw, sources["sumw"] = events_sumw, EVENTS
            arrays.update(events_arrays)
            sources.update(dict.fromkeys(needed, EVENTS))
        sums = WeightSums(sumw, arrays)
    for array in weights.missing:
        if array in weights.summed:
            sums.arrays[array], sources[array] = np.full(WEIGHT_ARRAYS[array]["entries"], sums.sumw), "missing"
    return sums, sources


def _runs_sums(tfile, arrays):
    """(sum of weights or None, its Runs branch, {array: (sums, its Runs branch)}) of a file's
    Runs tree, for the ``arrays`` whose Runs sums it holds next to the like-named sum of weights."""
    runs = tfile.Get("Runs")
    if not (runs and runs.InheritsFrom("TTree")):
        return None, None, {}
    branch = next((b for b in RUNS_SUMW_BRANCHES if runs.GetBranch(b)), None)
    if branch is None:
        return None, None, {}
    suffix = branch[len("genEventSumw"):]
    found = {a: name for a in arrays for name in WEIGHT_ARRAYS[a]["runs_sums"]
             if name.endswith("_") == bool(suffix) and runs.GetBranch(name)}
    runs.SetBranchStatus("*", 0)
    for name in [branch, *found.values(), *(f"n{n}" for n in found.values())]:
        if runs.GetBranch(name):
            runs.SetBranchStatus(name, 1)
    sumw, sums = 0.0, {a: np.zeros(WEIGHT_ARRAYS[a]["entries"]) for a in found}
    for entry in runs:
        entry_sumw = getattr(entry, branch)
        sumw += entry_sumw
        for array, name in found.items():
            values = getattr(entry, name)
            n = getattr(entry, f"n{name}")
            sums[array] += runs_array_sums(array, [values[i] for i in range(n)], entry_sumw)
    return sumw, branch, {a: (sums[a], name) for a, name in found.items()}


def _events_sums(ROOT, url, arrays):
    """(sum of genWeight, {array: sum of genWeight x each entry}) of a file's events, in one
    loop, each entry read by the kernel that reads it in the event loop."""
    root_setup.load("generator_weights.h")
    df = ROOT.RDataFrame("Events", url).Define("tmet_gen_weight", "double(genWeight)")
    booked = {}
    for array in arrays:
        spec = WEIGHT_ARRAYS[array]
        for i in range(spec["entries"]):
            column = f"tmet_{array}_{i}"
            booked[(array, i)] = df.Define(column, f"tmet_gen_weight * {spec['kernel']}({array}, {i})").Sum(column)
    sumw = df.Sum("tmet_gen_weight")
    return sumw.GetValue(), {a: np.array([booked[(a, i)].GetValue() for i in range(WEIGHT_ARRAYS[a]["entries"])])
                             for a in arrays}


def read_weight_sums(tfile):
    """The WeightSums a skim or STEP 1 output ``tfile`` recorded (None where it holds none)."""
    parameter = tfile.Get(SUMW)
    if not parameter:
        return None
    arrays = {}
    for key in tfile.GetListOfKeys():
        name = key.GetName()
        if name.startswith(SUMW_ARRAY.format("")):
            vector = tfile.Get(name)
            arrays[name[len(SUMW_ARRAY.format("")):]] = np.array([vector[i] for i in range(vector.GetNrows())])
    return WeightSums(parameter.GetVal(), arrays)


def add_inputs_record(ROOT, record, output_path, step1=None):
    """Append to ``output_path`` the trees of ``record`` (an InputsRecord) unchanged (baskets
    copied as they are: no decompression, nothing to compile), for MC its WeightSums, and a
    STEP 1 output's preselection ``step1``."""
    for name, urls in record.trees.items():
        chain = ROOT.TChain(name)
        for url in urls:
            chain.Add(url)
        tfile = ROOT.TFile.Open(output_path, "UPDATE")
        try:
            chain.CloneTree(-1, "fast").Write()
        finally:
            tfile.Close()
    if record.sums is not None:
        tfile = ROOT.TFile.Open(output_path, "UPDATE")
        try:
            ROOT.TParameter["double"](SUMW, record.sums.sumw).Write()
            for array, values in record.sums.arrays.items():
                ROOT.TVectorD(len(values), np.asarray(values, dtype=float)).Write(SUMW_ARRAY.format(array))
        finally:
            tfile.Close()
    if step1 is not None:
        add_step1_record(ROOT, output_path, step1)


def add_step1_record(ROOT, output_path, step1):
    """Append to a STEP 1 output (a full copy or a friend) the preselection ``step1`` it
    applied (or flagged), which the skim checks against its own."""
    tfile = ROOT.TFile.Open(output_path, "UPDATE")
    try:
        ROOT.TNamed(STEP1_RECORD, json.dumps(step1, sort_keys=True)).Write()
    finally:
        tfile.Close()
