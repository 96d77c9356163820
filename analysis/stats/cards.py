"""Reading a Combine shape card (as analysis/stats/datacard.py writes them) and its templates.

The parser knows the subset of Combine's card syntax that tmet writes: ``shapes`` lines, the
bin/observation and bin/process/process/rate blocks, ``lnN`` (k or kdown/kup), ``shape`` (1),
``autoMCStats`` and ``group`` (``name group = nuisances``, ``+=`` to add). Anything else is a TmetError naming the card, so that a card the model
would silently misread never reaches a fit.
"""

import contextlib
import os

import numpy as np

from analysis.engine.root_setup import import_root
from analysis.errors import TmetError


def parse_datacard(path):
    """A Combine shape card as a dict, checked so that errors name the card: path, bins,
    observation {bin: n}, columns [(bin, process, index)], rates {(bin, process): rate},
    lnN {name: {(bin, process): (kdown, kup)}}, shape {name: {(bin, process)}}, shapes
    [{process, channel, file, nominal, systematic}] (file relative to the card), autoMCStats
    {bin: (event threshold, include signal)}, groups {name: [nuisances]}."""
    def fail(message):
        return TmetError(f"datacard {path}: {message}")

    def number(text):
        try:
            return float(text)
        except ValueError:
            raise fail(f"'{text}' is not a number") from None

    if not os.path.isfile(path):
        raise TmetError(f"datacard {path} does not exist")
    with open(path) as card_file:
        rows = [line.split("#")[0].split() for line in card_file]
    card = {"path": os.path.abspath(path), "lnN": {}, "shape": {}, "shapes": [], "autoMCStats": {}, "groups": {}}
    bin_rows, process_rows, nuisances = [], [], []
    for key, *values in (row for row in rows if row and not row[0].startswith("-")):
        if key == "shapes" and len(values) in (4, 5):
            rule = dict(zip(("process", "channel", "file", "nominal", "systematic"), values + [None]))
            card["shapes"].append(dict(rule, file=os.path.join(os.path.dirname(card["path"]), rule["file"])))
        elif key in ("bin", "process"):
            (bin_rows if key == "bin" else process_rows).append(values)
        elif key in ("observation", "rate"):
            card[key] = [number(v) for v in values]
        elif values[:1] == ["autoMCStats"] and 2 <= len(values) <= 4 and bin_rows:
            # Combine's syntax: threshold [include-signal = 0] [hist-mode = 1]; only hist-mode 1 is modelled
            if values[3:] not in ([], ["1"]):
                raise fail(f"autoMCStats hist-mode {values[3]} is not supported (1, the default, is)")
            setting = (number(values[1]), values[2:3] == ["1"])
            card["autoMCStats"].update({b: setting for b in bin_rows[0] if key in ("*", b)})
        elif values[:1] == ["group"] and len(values) > 2 and values[1] in ("=", "+="):
            if values[1] == "+=" and key not in card["groups"]:
                raise fail(f"group {key} is added to ('+=') before it is defined")
            card["groups"].setdefault(key, []).extend(v for v in values[2:] if v not in card["groups"].get(key, []))
        elif values[:1] in (["lnN"], ["shape"]):
            if any(name == key for name, _, _ in nuisances):
                raise fail(f"nuisance {key} is defined twice")
            nuisances.append((key, values[0], values[1:]))
        elif key not in ("imax", "jmax", "kmax"):
            raise fail(f"unsupported line '{' '.join([key] + values)}' (lnN, shape, autoMCStats and group are)")
    if len(bin_rows) != 2 or len(process_rows) != 2 or not {"observation", "rate"} <= set(card) or not card["shapes"]:
        raise fail("needs a shapes line, a bin/observation block and a bin/process/process/rate block")
    names, indices = sorted(process_rows, key=lambda row: all(v.lstrip("-").isdigit() for v in row))
    card["bins"], columns = bin_rows[0], bin_rows[1]
    if not (all(i.lstrip("-").isdigit() for i in indices) and len(card["observation"]) == len(card["bins"])
            and set(columns) <= set(card["bins"]) and len(columns) == len(names) == len(indices) == len(card["rate"])):
        raise fail("the bin, observation, process (names and integer indices) and rate rows do not match")
    card["columns"] = [(b, p, int(i)) for b, p, i in zip(columns, names, indices)]
    card["observation"] = dict(zip(card["bins"], card["observation"]))
    card["rates"] = {(b, p): r for (b, p, _), r in zip(card["columns"], card.pop("rate"))}
    unknown = sorted({m for members in card["groups"].values() for m in members} - {name for name, _, _ in nuisances})
    if unknown:
        raise fail(f"group members {', '.join(unknown)} are no nuisance of the card")
    for name, kind, values in nuisances:
        if len(values) != len(columns):
            raise fail(f"nuisance {name} has {len(values)} values for {len(columns)} columns")
        present = {(b, p): v for (b, p, _), v in zip(card["columns"], values) if v not in ("-", "0")}
        if kind == "shape":
            if any(number(v) != 1 for v in present.values()):
                raise fail(f"shape nuisance {name}: only 1, 0 or - are supported")
            card["shape"][name] = set(present)
            continue
        kappas = {column: [number(k) for k in v.split("/")] for column, v in present.items()}
        if any(len(k) > 2 or min(k) <= 0 for k in kappas.values()):
            raise fail(f"lnN {name}: values must be k or kdown/kup with positive k")
        card["lnN"][name] = {column: (k[0], k[-1]) if len(k) == 2 else (1 / k[0], k[0]) for column, k in kappas.items()}
    return card


@contextlib.contextmanager
def shapes_files(card):
    """A reader of the card's templates, its shapes files open while the block runs:
    read(bin, process, systematic=None) -> (contents, errors) as numpy arrays (no under- or
    overflow), ``systematic`` e.g. "jesUp"."""
    ROOT = import_root()
    files = {}

    def read(bin_, process, systematic=None):
        rules = [r for r in card["shapes"] if r["process"] in ("*", process) and r["channel"] in ("*", bin_)]
        rule = max(rules, key=lambda r: 2 * (r["process"] != "*") + (r["channel"] != "*"), default=None)
        if rule is None:
            raise TmetError(f"datacard {card['path']}: no shapes line for {process} in {bin_}")
        pattern = (rule["systematic"] if systematic else rule["nominal"]) or ""
        name = pattern.replace("$CHANNEL", bin_).replace("$PROCESS", process).replace("$SYSTEMATIC", systematic or "")
        if rule["file"] not in files:
            if not os.path.isfile(rule["file"]):
                raise TmetError(f"shapes file {rule['file']} of {card['path']} does not exist")
            files[rule["file"]] = ROOT.TFile.Open(rule["file"])
        hist = files[rule["file"]].Get(name) if name else None
        if not hist or not hist.InheritsFrom("TH1"):
            raise TmetError(f"{rule['file']} has no histogram '{name}' for {process} in {bin_} ({card['path']})")
        bins = range(1, hist.GetNbinsX() + 1)
        return (np.array([hist.GetBinContent(i) for i in bins]), np.array([hist.GetBinError(i) for i in bins]))

    try:
        yield read
    finally:
        for tfile in files.values():
            tfile.Close()
