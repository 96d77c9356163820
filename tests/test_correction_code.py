"""Corrections compiled from their JSON (analysis.engine.correction_code) give correctionlib's values:
on the real POG files of the real campaigns, and on corrections made here to exercise every
node type, flow behaviour and the formula grammar; code that disagrees is not used."""

import json
import warnings

import pytest

from analysis.engine import correction_code
from analysis.engine.compiled import Graph
from analysis.engine.corrections import correction_specs
from analysis.physics.selection import KERNELS
from config import campaigns
from config.analysis import build_config
from tests.test_correction_inputs import POG


def bound_library(specs, description):
    """The library of an empty graph with ``specs``, its corrections bound; a compiled
    correction that disagrees with correctionlib is an error here, not a warning."""
    library, _ = Graph(specs, KERNELS, description).compile({})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        library.table(specs)
    return library


@pytest.mark.parametrize("name, values", [("run2_2018", campaigns.ul2018), ("run3_2022", campaigns.run3_2022)])
def test_real_pog_corrections_are_compiled_and_agree(name, values, monkeypatch):
    monkeypatch.setenv("TMET_POG_ROOT", POG)
    config = build_config(name, values())
    specs = correction_specs(config, keys=list(config.x.corrections))
    assert bound_library(specs, f"corrections of {name}").compiled == set(specs)


def formula(expression, variables=("pt",)):
    return {"nodetype": "formula", "expression": expression, "parser": "TFormula", "variables": list(variables),
            "parameters": [1.5, 70.0]}


# TFormula's precedences: '^' right-associative and tighter than unary minus's neighbours,
# '-2' a literal, comparisons and logic as 0/1
FORMULAS = ["-x^2", "2^3^0.5*x", "x-2*x/4+1-3", "x*-2+10000", "max(x,30)*[0]+min(x,[1])", "(x>50)&&(x<=200)",
            "(x<40)||(x==100)+abs(-x)", "-2^2+sqrt(x)*log(x)/log10(10)", "atan2(x, 3)+pow(x, 0.25)+exp(-x/100)",
            "erf(x/100)+1e-3*x+2.5e-1", "tanh(x/50)+cos(x)+sin(x)+1.5"]


def test_every_node_type_flow_and_formula_agrees(tmp_path):
    heavy = {  # btag_heavy: (flavour, abseta, pt, eta) -> systematic, working_point, flavor, abseta, pt
        "name": "heavy", "version": 1, "output": {"name": "sf", "type": "real"},
        "inputs": [{"name": n, "type": t} for n, t in (("systematic", "string"), ("working_point", "string"),
                                                        ("flavor", "int"), ("abseta", "real"), ("pt", "real"))],
        "data": {"nodetype": "category", "input": "systematic", "content": [
            {"key": "central", "value": {"nodetype": "category", "input": "flavor", "content": [
                {"key": k, "value": formula(f"{e}+20", ["pt"])} for k, e in enumerate(FORMULAS)]}},
            {"key": "up", "value": {"nodetype": "multibinning", "inputs": ["abseta", "pt"],
                                    "edges": [[0.0, 1.2, 2.5], {"n": 4, "low": 20.0, "high": 1000.0}],
                                    "content": [1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8],
                                    "flow": {"nodetype": "formula", "expression": "x/10", "parser": "TFormula",
                                             "variables": ["pt"]}}}],
            "default": {"nodetype": "category", "input": "working_point", "content": [
                {"key": "M", "value": {"nodetype": "binning", "input": "pt", "edges": [20.0, 50.0, "inf"],
                                       "content": [0.9, 0.95], "flow": "error"}}]}},
    }
    jes = {  # jes: (eta, pt): clamp, wrap, transform, formularef
        "name": "jes", "version": 1, "output": {"name": "unc", "type": "real"},
        "inputs": [{"name": "JetEta", "type": "real"}, {"name": "JetPt", "type": "real"}],
        "generic_formulas": [{"nodetype": "formula", "expression": "[0]+[1]*log(x)", "parser": "TFormula",
                              "variables": ["JetPt"]}],
        "data": {"nodetype": "binning", "input": "JetEta", "edges": [-5.0, -2.5, 0.0, 2.5, 5.0], "flow": "clamp",
                 "content": [
                     {"nodetype": "formularef", "index": 0, "parameters": [0.01, 0.002]},
                     {"nodetype": "binning", "input": "JetPt", "edges": {"n": 5, "low": 10.0, "high": 510.0},
                      "content": [0.01, 0.02, 0.03, 0.04, 0.05], "flow": "wrap"},
                     {"nodetype": "transform", "input": "JetPt", "rule": formula("x*2", ["JetPt"]),
                      "content": {"nodetype": "binning", "input": "JetPt", "edges": [0.0, 100.0, 400.0],
                                  "content": [0.03, 0.04], "flow": "clamp"}},
                     {"nodetype": "binning", "input": "JetPt", "edges": {"n": 2, "low": 10.0, "high": 1000.0},
                      "content": [0.05, 0.06], "flow": 0.5}]},
    }
    path = tmp_path / "made.json"
    path.write_text(json.dumps({"schema_version": 2, "corrections": [heavy, jes]}))
    specs = {
        "btag_heavy": {"file": str(path), "name": "heavy", "fixed": {"working_point": "M"},
                       "inputs": {"systematic": "variation", "flavor": "flavour", "abseta": "abseta", "pt": "pt"},
                       "variations": ["central", "up", "down"]},
        "jes": {"file": str(path), "name": "jes", "inputs": {"JetEta": "eta", "JetPt": "pt"}},
    }
    assert bound_library(specs, "made corrections").compiled == {"btag_heavy", "jes"}


def test_formulas_parse_as_correctionlib_reads_them():
    parse = correction_code.parse_formula
    assert parse("-x^2") == ("op", "^", ("neg", ("var", 0)), ("lit", 2.0))
    assert parse("-2^2") == ("op", "^", ("lit", -2.0), ("lit", 2.0))
    assert parse("2^3^2") == ("op", "^", ("lit", 2.0), ("op", "^", ("lit", 3.0), ("lit", 2.0)))
    assert parse("x-1-2") == ("op", "-", ("op", "-", ("var", 0), ("lit", 1.0)), ("lit", 2.0))
    assert parse("x[1]*[0]") == ("op", "*", ("var", 1), ("par", 0))
    with pytest.raises(correction_code.Unsupported):
        parse("foo(x)")


def test_code_that_disagrees_is_not_used(tmp_path, monkeypatch):
    """A bug in the written code (here: every formula's first parameter changed) is caught
    when the correction is bound: correctionlib evaluates it, with a warning naming it."""
    content = {"schema_version": 2, "corrections": [{
        "name": "res", "version": 1, "output": {"name": "r", "type": "real"},
        "inputs": [{"name": n, "type": "real"} for n in ("JetEta", "JetPt", "Rho")],
        "data": {"nodetype": "formula", "expression": "[0]+x*0+y/1000+z*0", "parser": "TFormula",
                 "variables": ["JetEta", "JetPt", "Rho"], "parameters": [0.1]}}]}
    path = tmp_path / "res.json"
    path.write_text(json.dumps(content))
    specs = {"jer_resolution": {"file": str(path), "name": "res",
                                "inputs": {"JetEta": "eta", "JetPt": "pt", "Rho": "rho"}}}
    original = correction_code._literal
    monkeypatch.setattr(correction_code, "_literal", lambda v: original(0.2 if v == 0.1 else v))
    library, _ = Graph(specs, KERNELS, "a wrong compiled correction").compile({})
    with pytest.warns(UserWarning, match=r"correction 'res' of .*res.json at quantities .* correctionlib evaluates it"):
        library.table(specs)
    assert library.compiled == set()


def test_code_that_does_not_compile_is_not_used(monkeypatch):
    """Written code the compiler rejects leaves the graph to correctionlib, with a warning."""
    specs = correction_specs(build_config("run2_2018_synth", campaigns.synthetic2018(), real_data=False))
    written = correction_code.binding_function
    monkeypatch.setattr(correction_code, "binding_function", lambda *args: written(*args).replace("return", "retrun", 1))
    with pytest.warns(UserWarning, match=r"corrections written as C\+\+ for .* do not compile; correctionlib"):
        library, _ = Graph(specs, KERNELS, "corrections that do not compile").compile({})
    library.table(specs)
    assert library.compiled == set()
