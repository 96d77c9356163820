"""correctionlib corrections as C++ code, compiled into a graph's library.

correctionlib evaluates a correction by walking its node tree for every call: it checks
the types of the inputs, looks string categories up in maps and interprets formulas node
by node, which made it a quarter of an all-shifts event loop. A binding fixes every
string input (fixed values, the variation's string), so the tree can be written once as
C++ for it: categories resolved where their input is fixed, bin edges in static arrays
searched as correctionlib searches them, formulas as C++ expressions with the same
operations in the same order. The library's correctionlib still loads every correction;
its evaluation is the reference a compiled one is checked against when it is bound
(``check_points``), and the one used wherever the code cannot follow the file: node types
this module does not write (``hashprng``, ``lwtnn``), a failed check.

The semantics followed are those of correctionlib's ``correction.cc`` and
``formula_ast.cc``: flow behaviours (value, clamp, error, wrap), the upper-bound bin search
(``tmet::upper_edge``), categories' defaults, transforms (an int input takes the rounded rule), the TFormula
grammar's precedences (``^`` right-associative, unary minus binding tightest).
"""

import functools
import gzip
import hashlib
import json
import math
import os
import random
import re

from analysis.engine.corrections import FIXED, VARIATION_SOURCE
from analysis.errors import TmetError

# the b-tag efficiency maps are one file per dataset: compiled in, they would make a library
# per dataset; they stay with correctionlib (a small map, a few lookups per event)
NOT_COMPILED = ("btag_efficiency",)
CHECK_POINTS = 256


class Unsupported(Exception):
    """A correction this module does not write as C++ (correctionlib evaluates it)."""


@functools.cache
def _file_json(path, content):
    """The parsed JSON of a correction file (``content``: its digest, so that a remade file
    is read again)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def correction_json(path, name, content):
    """The JSON object of correction ``name`` in the file ``path``."""
    for correction in _file_json(path, content).get("corrections", []):
        if correction.get("name") == name:
            return correction
    raise TmetError(f"no correction '{name}' in {path}")


def declared_inputs(path, name, content):
    """[(input name, type)] of a correction, as its file declares them."""
    return [(item["name"], item["type"]) for item in correction_json(path, name, content)["inputs"]]


def code_key(binding):
    """What identifies the compiled code of a binding: its spec without the file's path
    (a Dask worker binds a local copy of the same content)."""
    spec = {k: v for k, v in json.loads(binding.spec).items() if k != "file"}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------
# the C++ of a binding


def _literal(value):
    value = float(value)
    if math.isnan(value):
        return "std::numeric_limits<double>::quiet_NaN()"
    if math.isinf(value):
        return f"{'-' if value < 0 else ''}std::numeric_limits<double>::infinity()"
    return repr(value)


def _edge(value):
    if isinstance(value, str):
        if value in ("inf", "+inf"):
            return math.inf
        if value == "-inf":
            return -math.inf
        raise Unsupported(f"bin edge {value!r}")
    return float(value)


def _is_number(node):
    return isinstance(node, (int, float)) and not isinstance(node, bool)


class _Writer:
    """The C++ statements of one correction's nodes, for one set of input values: each
    input is ("real", C++ double), ("int", C++ int64_t) or ("string", its text)."""

    def __init__(self, correction):
        self.correction = correction
        self.inputs = [item["name"] for item in correction["inputs"]]
        self.count = 0

    def name(self, stem):
        self.count += 1
        return f"{stem}{self.count}"

    def index(self, name):
        if name not in self.inputs:
            raise Unsupported(f"node input '{name}' is not an input of the correction")
        return self.inputs.index(name)

    def number(self, values, name):
        kind, expression = values[self.index(name)]
        if kind == "real":
            return expression
        if kind == "int":
            return f"static_cast<double>({expression})"
        raise Unsupported(f"string input '{name}' used as a number")

    def node(self, node, values):
        """Statements that return the value of ``node``."""
        if _is_number(node):
            return [f"return {_literal(node)};"]
        if not isinstance(node, dict):
            raise Unsupported(f"content {node!r}")
        kind = node.get("nodetype")
        if kind == "binning":
            return self.binning(node, values)
        if kind == "multibinning":
            return self.multibinning(node, values)
        if kind == "category":
            return self.category(node, values)
        if kind == "formula":
            return [f"return {self.formula(node, node.get('parameters') or [], values)};"]
        if kind == "formularef":
            generic = self.correction.get("generic_formulas") or []
            if not 0 <= node["index"] < len(generic):
                raise Unsupported(f"formularef index {node['index']}")
            return [f"return {self.formula(generic[node['index']], node['parameters'], values)};"]
        if kind == "transform":
            return self.transform(node, values)
        raise Unsupported(f"node type '{kind}'")

    def constant(self, node, values):
        """The value of ``node`` where it needs no input of the event: a number, or categories
        over fixed strings (the variation) that lead to one; else None."""
        while isinstance(node, dict) and node.get("nodetype") == "category":
            kind, expression = values[self.index(node["input"])]
            if kind != "string":
                return None
            items = {}
            for item in node["content"]:
                items.setdefault(item["key"], item["value"])
            node = items.get(expression, node.get("default"))
        return float(node) if _is_number(node) else None

    def contents(self, index, contents, values):
        """Statements returning contents[index] (C++ ``index``): one static array where all
        are constants, a switch otherwise."""
        constants = [self.constant(c, values) for c in contents]
        if None not in constants:
            array = self.name("c")
            return [f"static const double {array}[] = {{{', '.join(_literal(c) for c in constants)}}};",
                    f"return {array}[{index}];"]
        lines = [f"switch ({index}) {{"]
        for i, content in enumerate(contents):
            lines += [f"case {i}: {{", *self.node(content, values), "}"]
        return lines + ["}", 'throw std::logic_error("bin index out of range");']

    def find_bin(self, edges, flow, value, index, what, variable):
        """Statements setting ``index`` (std::size_t, declared) to the bin of ``value`` as
        correctionlib's find_bin_idx does; the default's index is the number of bins."""
        message = f'" bounds in {what} for input argument {variable} value: "'
        if isinstance(edges, dict):
            n, low, high = int(edges["n"]), _literal(edges["low"]), _literal(edges["high"])
            outside = {
                "value": f"{index} = {n}; goto {index}_done;",
                "clamp": f"{index} = {value} < {low} ? 0 : {n - 1}; goto {index}_done;",
                "error": f'throw std::runtime_error(std::string("Index ") + ({value} < {low} ? "below" : "above") + '
                         f"{message} + std::to_string({value}));",
                "wrap": "",
            }[flow]
            norm = self.name("norm")
            return [f"if ({value} < {low} || {value} >= {high}) {{ {outside} }}",
                    f"{{ double {norm} = ({value} - {low}) / ({high} - {low});",
                    f"{norm} -= std::floor({norm});" if flow == "wrap" else "",
                    f"{index} = {n}u * {norm}; }}", f"{index}_done:;"]
        points = [_edge(e) for e in edges]
        if any(b <= a for a, b in zip(points, points[1:])):
            raise Unsupported("bin edges not increasing")
        array, it, x = self.name("e"), self.name("it"), self.name("x")
        m = len(points)
        lines = [f"static const double {array}[] = {{{', '.join(_literal(p) for p in points)}}};",
                 f"double {x} = {value};"]
        if flow == "wrap":
            lines.append(f"{{ const double lo = {array}[0], hi = {array}[{m - 1}]; double n = ({x} - lo) / (hi - lo); "
                         f"n -= std::floor(n); {x} = lo + n * (hi - lo); }}")
        lines.append(f"const double* {it} = tmet::upper_edge({array}, {m}, {x});")
        for edge, step, side in ((array, "++", "below"), (f"{array} + {m}", "--", "above")):
            outside = {
                "value": f"{index} = {m - 1}; goto {index}_done;",
                "clamp": f"{step}{it};",
                "error": f'throw std::runtime_error("Index {side}" + std::string({message}) + std::to_string({x}));',
                "wrap": f'throw std::logic_error("I should not have ever seen a value {side} the edges");',
            }[flow]
            lines.append(f"if ({it} == {edge}) {{ {outside} }}")
        return lines + [f"{index} = std::size_t({it} - {array}) - 1;", f"{index}_done:;"]

    def flow(self, node):
        flow = node["flow"]
        if isinstance(flow, str):
            if flow not in ("clamp", "error", "wrap"):
                raise Unsupported(f"flow '{flow}'")
            return flow, None
        return "value", flow

    def binning(self, node, values):
        flow, default = self.flow(node)
        edges = node["edges"]
        n = int(edges["n"]) if isinstance(edges, dict) else len(edges) - 1
        if len(node["content"]) != n:
            raise Unsupported("binning content does not match its edges")
        index, value = self.name("bin"), self.name("v")
        lines = ["{", f"const double {value} = {self.number(values, node['input'])};", f"std::size_t {index};"]
        lines += self.find_bin(edges, flow, value, index, "Binning", self.index(node["input"]))
        contents = list(node["content"]) + [default if default is not None else 0.0]
        return lines + self.contents(index, contents, values) + ["}"]

    def multibinning(self, node, values):
        flow, default = self.flow(node)
        axes = list(zip(node["inputs"], node["edges"]))
        sizes = [int(e["n"]) if isinstance(e, dict) else len(e) - 1 for _, e in axes]
        if len(node["content"]) != math.prod(sizes):
            raise Unsupported("multibinning content does not match its edges")
        flat = self.name("idx")
        lines = ["{", f"std::size_t {flat} = 0;"]
        stride = math.prod(sizes)
        for (name, edges), size in zip(axes, sizes):
            stride //= size
            index, value = self.name("bin"), self.name("v")
            lines += ["{", f"const double {value} = {self.number(values, name)};", f"std::size_t {index};"]
            lines += self.find_bin(edges, flow, value, index, "MultiBinning", self.index(name))
            if flow == "value":
                lines += [f"if ({index} == {size}) {{", *self.node(default, values), "}"]
            lines += [f"{flat} += {index} * {stride};", "}"]
        return lines + self.contents(flat, list(node["content"]), values) + ["}"]

    def category(self, node, values):
        i = self.index(node["input"])
        kind, expression = values[i]
        items = {}
        for item in node["content"]:
            items.setdefault(item["key"], item["value"])  # the first of a key, as correctionlib's try_emplace
        default = node.get("default")
        if kind == "string":
            if expression in items:
                return self.node(items[expression], values)
            if default is not None:
                return self.node(default, values)
            message = json.dumps(f"Index not available in Category for input argument {i} val: {expression}")
            return [f"throw std::out_of_range({message});"]
        if kind != "int" or not all(isinstance(k, int) for k in items):
            raise Unsupported(f"category over a {kind} input")
        key = self.name("key")
        lines = ["{", f"const int64_t {key} = {expression};", f"switch ({key}) {{"]
        for k, value in items.items():
            lines += [f"case {int(k)}: {{", *self.node(value, values), "}"]
        lines += ["default: {"]
        if default is not None:
            lines += self.node(default, values)
        else:
            lines.append(f'throw std::out_of_range("Index not available in Category for input argument {i} val: " '
                         f"+ std::to_string({key}));")
        return lines + ["}", "}", "}"]

    def transform(self, node, values):
        i = self.index(node["input"])
        kind, _ = values[i]
        if kind == "string":
            raise Unsupported("transform of a string input")
        rule = self.name("rule")
        lines = ["{", f"const double {rule} = [&]() -> double {{", *self.node(node["rule"], values), "}();"]
        changed = list(values)
        changed[i] = ("real", rule) if kind == "real" else ("int", f"static_cast<int64_t>(std::round({rule}))")
        return lines + self.node(node["content"], changed) + ["}"]

    def formula(self, node, parameters, values):
        if node.get("parser", "TFormula") != "TFormula":
            raise Unsupported(f"formula parser '{node.get('parser')}'")
        variables = []
        for name in node["variables"]:
            kind, expression = values[self.index(name)]
            if kind != "real":  # correctionlib reads formula variables as doubles only
                raise Unsupported(f"formula variable '{name}' of type {kind}")
            variables.append(expression)
        return _cpp(parse_formula(node["expression"]), variables, parameters)


def binding_function(binding, correction, function):
    """C++ of ``double function(const double* q, int variation)``: ``correction`` (its JSON)
    evaluated with the inputs of ``binding`` (quantities q, fixed values, the variation's
    string). Raises Unsupported where the code cannot follow the file."""
    writer = _Writer(correction)
    types = [item["type"] for item in correction["inputs"]]
    if len(types) != len(binding.sources):
        raise Unsupported("inputs do not match the binding")

    def values_for(variation):
        values = []
        for kind, source, fixed in zip(types, binding.sources, binding.fixed):
            if source >= 0:
                values.append(("int", f"static_cast<int64_t>(q[{source}])") if kind == "int" else ("real", f"q[{source}]"))
            elif source == FIXED:
                if kind == "string":
                    values.append(("string", fixed))
                elif kind == "int":
                    values.append(("int", f"int64_t({int(fixed)})"))
                else:
                    values.append(("real", _literal(float(fixed))))
            else:  # VARIATION_SOURCE
                values.append(("string", binding.variations[variation]))
        return values

    # the file's name without its directory: the same correction makes the same library from any checkout
    lines = [f"// correction '{correction['name']}' of {os.path.basename(binding.file)} (for '{binding.key}')",
             f"double {function}(const double* q, int variation) {{", "(void)q; (void)variation;"]
    if VARIATION_SOURCE in binding.sources:
        lines.append("switch (variation) {")
        for v in range(len(binding.variations)):
            lines += [f"case {v}: {{", *writer.node(correction["data"], values_for(v)), "}"]
        lines += ["}", 'throw std::out_of_range("variation index out of range");']
    else:
        lines += writer.node(correction["data"], values_for(0))
    return "\n".join(lines + ["}"])


def source(bindings):
    """C++ of the compiled corrections of ``bindings`` (those this module can write) and of
    ``tmet_graph::compiled_correction(key)``, which finds them by ``code_key``."""
    functions, table = [], []
    for k, binding in enumerate(bindings):
        if binding.key in NOT_COMPILED:
            continue
        try:
            correction = correction_json(binding.file, binding.name, binding.content)
            functions.append(binding_function(binding, correction, f"correction_{k}"))
        except (Unsupported, KeyError, TypeError, ValueError):
            continue  # correctionlib evaluates it
        table.append(f'{{"{code_key(binding)}", correction_{k}}}')
    return "\n".join([
        "// corrections compiled from their JSON (analysis/engine/correction_code.py)", *functions, "",
        "inline tmet::CompiledCorrection compiled_correction(const std::string& key) {",
        "    static const std::map<std::string, tmet::CompiledCorrection> table = {" + ", ".join(table) + "};",
        "    const auto it = table.find(key);", "    return it == table.end() ? nullptr : it->second;", "}"])


# ---------------------------------------------------------------------------------------
# the points a compiled correction is checked at


def check_points(binding, n_quantities):
    """``CHECK_POINTS`` points of the kernel's ``n_quantities`` quantities (a flat list) at
    which a compiled correction must give correctionlib's value: every bin edge and
    category key of its inputs, the middle of every bin, values beyond the edges, and
    random values in between (a fixed seed: the same points in every process)."""
    correction = correction_json(binding.file, binding.name, binding.content)
    inputs = [item["name"] for item in correction["inputs"]]
    found = {name: set() for name in inputs}

    def visit(node):
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            kind = node.get("nodetype")
            axes = []
            if kind == "binning":
                axes = [(node["input"], node["edges"])]
            elif kind == "multibinning":
                axes = list(zip(node["inputs"], node["edges"]))
            elif kind == "category" and node.get("input") in found:
                found[node["input"]].update(item["key"] for item in node["content"] if isinstance(item["key"], int))
            for name, edges in axes:
                if isinstance(edges, dict):
                    n, low, high = int(edges["n"]), float(edges["low"]), float(edges["high"])
                    edges = [low + (high - low) * i / n for i in range(n + 1)]
                points = [e for e in (_edge_or_none(e) for e in edges) if e is not None and math.isfinite(e)]
                if points and name in found:
                    mids = [(a + b) / 2 for a, b in zip(points, points[1:])]
                    found[name].update(points + mids + [points[0] - 1.0, points[-1] + 1.0])
            for value in node.values():
                visit(value)

    visit(correction["data"])
    rng = random.Random(0)
    candidates = [[0.0] for _ in range(n_quantities)]
    for name, source in zip(inputs, binding.sources):
        if source >= 0:
            values = sorted(found[name]) or [0.5, 1.0, 10.0, 30.0, 100.0, 1000.0]
            low, high = values[0], values[-1]
            candidates[source] = values + [rng.uniform(low, high) for _ in range(len(values))]
    return [rng.choice(c) for _ in range(CHECK_POINTS) for c in candidates]


def _edge_or_none(value):
    try:
        return _edge(value)
    except Unsupported:
        return None


# ---------------------------------------------------------------------------------------
# TFormula expressions (correctionlib's grammar) to C++

# operator precedences of correctionlib's grammar, loosest first; '^' is right-associative
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, ">": 4, "<": 4, ">=": 4, "<=": 4, "-": 5, "+": 5,
              "/": 6, "*": 6, "^": 7}
UNARY = ("log10", "log", "exp", "erf", "sqrt", "abs", "cosh", "cos", "sinh", "sin", "tanh", "tan", "acosh", "acos",
         "asinh", "asin", "atanh", "atan")
BINARY = ("atan2", "pow", "max", "min")
TOKEN = re.compile(r"\s*(?:(?P<literal>[0-9]+(?:\.[0-9]*)?(?:e-?[0-9]+)?)|(?P<param>\[[0-9]+\])"
                   r"|(?P<var>x\[[0-9]+\]|[xyzt](?![A-Za-z0-9_]))|(?P<func>[a-z][a-z0-9]*)(?=\s*\()"
                   r"|(?P<op>\|\||&&|==|!=|>=|<=|[-+*/^<>(),]))")


def _tokens(expression):
    out, pos = [], 0
    expression = expression.rstrip()
    while pos < len(expression):
        match = TOKEN.match(expression, pos)
        if not match:
            raise Unsupported(f"formula {expression!r}: cannot read it at position {pos}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse_formula(expression):
    """The tree of a TFormula expression: ("lit", value), ("var", index), ("par", index),
    ("neg", a), ("call", name, args...), ("op", symbol, a, b)."""
    tokens = _tokens(expression)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def take(value=None):
        nonlocal pos
        token = peek()
        if token[0] is None or (value is not None and token[1] != value):
            raise Unsupported(f"formula {expression!r}: expected {value or 'more'}")
        pos += 1
        return token

    def atom():
        kind, value = peek()
        if value == "-" and kind == "op":
            take()
            kind2, value2 = peek()
            if kind2 == "literal":  # LITERAL <- '-'? digits: a negative number
                take()
                return ("lit", -float(value2))  # '-2^2' is (-2)^2 there too
            return ("neg", primary())
        return primary()

    def primary():
        kind, value = take()
        if kind == "literal":
            return ("lit", float(value))
        if kind == "param":
            return ("par", int(value[1:-1]))
        if kind == "var":
            return ("var", {"x": 0, "y": 1, "z": 2, "t": 3}[value] if len(value) == 1 else int(value[2:-1]))
        if kind == "func":
            take("(")
            if value in UNARY:
                arg = expr(0)
                take(")")
                return ("call", value, arg)
            if value in BINARY:
                a = expr(0)
                take(",")
                b = expr(0)
                take(")")
                return ("call", value, a, b)
            raise Unsupported(f"formula {expression!r}: unknown function '{value}'")
        if value == "(":
            inner = expr(0)
            take(")")
            return inner
        raise Unsupported(f"formula {expression!r}: unexpected '{value}'")

    def expr(minimum):
        left = atom()
        while True:
            kind, value = peek()
            if kind != "op" or value not in PRECEDENCE or PRECEDENCE[value] < minimum:
                return left
            take()
            level = PRECEDENCE[value]
            right = expr(level if value == "^" else level + 1)
            left = ("op", value, left, right)

    tree = expr(0)
    if pos != len(tokens):
        raise Unsupported(f"formula {expression!r}: unexpected '{tokens[pos][1]}'")
    return tree


def _cpp(tree, variables, parameters):
    """C++ of a formula tree: the operations of correctionlib's FormulaAst::evaluate."""
    kind = tree[0]
    if kind == "lit":
        return _literal(tree[1])
    if kind == "var":
        if tree[1] >= len(variables):
            raise Unsupported("formula variable beyond the formula's variables")
        return variables[tree[1]]
    if kind == "par":
        if tree[1] >= len(parameters):
            raise Unsupported("formula parameter beyond the formula's parameters")
        return _literal(parameters[tree[1]])
    if kind == "neg":
        return f"(-{_cpp(tree[1], variables, parameters)})"
    if kind == "call":
        args = ", ".join(_cpp(a, variables, parameters) for a in tree[2:])
        if tree[1] in ("max", "min"):
            return f"std::{tree[1]}<double>({args})"
        return f"std::{tree[1]}({args})"
    symbol, a, b = tree[1], _cpp(tree[2], variables, parameters), _cpp(tree[3], variables, parameters)
    if symbol == "^":
        return f"std::pow({a}, {b})"
    if symbol in ("+", "-", "*", "/"):
        return f"({a} {symbol} {b})"
    if symbol in ("||", "&&"):
        return f"((({a}) != 0.0) {symbol} (({b}) != 0.0) ? 1.0 : 0.0)"
    return f"(({a}) {symbol} ({b}) ? 1.0 : 0.0)"
