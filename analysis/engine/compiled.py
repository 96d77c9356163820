"""Graphs compiled into shared libraries: RDataFrame's event loop without the JIT wait.

A ``Graph`` records what the graph builders (analysis.physics.skim, selection, weights, histograms,
btag) call on a dataframe: ``Alias``, ``Define``, ``Redefine``, ``Vary``, ``Filter``,
``Histo1D``, ``Histo2D`` and ``Snapshot``, with the same C++ expressions. From them and the input files' column types it
writes one C++ entry function (``source``) with RDataFrame's semantics, compiles it once
into a library cached by content (analysis.engine.build) and runs it through RDataFrame with
typed, compiled callables. What the JIT did per process (seconds per graph) is then a
library lookup, and what ``Vary`` did per node and universe is plain code:

- every column is computed at its first use in an entry and kept for it, per universe;
- a universe recomputes only the columns that depend on what its variation changes, and
  its histograms are filled only where an input or filter of theirs changes (elsewhere
  they are the nominal ones);
- the filters every histogram passes and no variation changes are RDataFrame ``Filter``
  nodes, each reading only its own columns, so that the other columns are read only for
  the events that pass them;
- corrections are bound once per process and run, found by role in the kernels, and
  evaluated by C++ written from their JSON (analysis.engine.correction_code) where it gives
  correctionlib's values.

Results are numpy arrays (``Histogram``) binned as TH1D/TH2D bin, flow included, or a
file written by a typed ``Snapshot``.
"""

import ctypes
import json
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from analysis.engine import build, correction_code
from analysis.engine.corrections import KEYS, QUANTITIES, bindings
from analysis.engine.dispatch import dispatch, local_path, local_specs, remove_partial
from analysis.engine.schema import input_schema, readable_inputs
from analysis.errors import TmetError

RUNTIME_HEADERS = ("frame.h", "frame_api.h", "corrections.h", "nano_writer.h")
# identifiers of an expression that may be columns: not members (after . :: ->), not in literals
IDENTIFIER = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|(?<![\w.])(?<!::)(?<!->)([A-Za-z_]\w*)')
NOMINAL = "nominal"
# RDataFrame's entry column
ENTRY = "rdfentry_"


def identifiers(expression):
    """The identifiers of a C++ expression that may name columns, in order, once each."""
    return tuple(dict.fromkeys(m.group(1) for m in IDENTIFIER.finditer(expression) if m.group(1)))


@dataclass
class Node:
    """A column (Define, Redefine, an action's argument), a filter or a Vary: ``var`` is its
    C++ variable, ``refs`` the derived columns visible to it (name -> var)."""

    kind: str
    var: str
    label: str
    expression: str
    refs: dict
    columns: tuple = ()  # a Vary: the vars of the columns it varies
    tags: tuple = ()
    variation: str = ""

    def dependencies(self, schema):
        """[(name, var or None for an input column)] that the expression reads."""
        out = []
        for name in identifiers(self.expression):
            if name in self.refs:
                out.append((name, self.refs[name]))
            elif name in schema:
                out.append((name, None))
        return out


@dataclass
class Axis:
    n: int
    low: float
    high: float
    edges: tuple = ()

    def cpp(self):
        edges = ", ".join(repr(float(e)) for e in self.edges)
        return f"{{{self.n}, {float(self.low)!r}, {float(self.high)!r}, {{{edges}}}}}"


def _axes(model, dimensions):
    """Axes of an RDataFrame histogram model tuple: (name, title, n, low, high, ...) or
    (name, title, n, edges, ...) per dimension."""
    rest, axes = list(model[2:]), []
    for _ in range(dimensions):
        n = int(rest.pop(0))
        if isinstance(rest[0], (list, tuple, np.ndarray)):
            edges = tuple(float(e) for e in rest.pop(0))
            if len(edges) != n + 1:
                raise TmetError(f"histogram {model[0]}: {n} bins need {n + 1} edges, not {len(edges)}")
            axes.append(Axis(n, edges[0], edges[-1], edges))
        else:
            axes.append(Axis(n, float(rest.pop(0)), float(rest.pop(0))))
    return axes + [Axis(-1, 0.0, 0.0)] * (2 - dimensions)  # n = -1: no y axis (one row of bins)


@dataclass
class Action:
    index: int
    name: str
    x: Axis
    y: Axis
    args: tuple  # vars of x, y (or None) and weight (or None)
    filters: tuple
    dimensions: int
    varied: bool = False


@dataclass
class Snapshot:
    """Columns written for the entries that pass ``filters``: (name, var, or None for an
    input column, and the input column it aliases); ``nanoaod``: in NanoAOD's leaf-array
    layout, by tmet's writer (analysis/cpp/nano_writer.h), else by RDataFrame's Snapshot."""

    tree: str
    columns: tuple
    filters: tuple
    nanoaod: bool = False


@dataclass
class Histogram:
    """One histogram's bins, flow included (a 2D one: [y bin, x bin]), as TH1D / TH2D hold
    them: ``contents``, ``variances`` (sums of squared weights) and ``entries`` (fills)."""

    x: Axis
    contents: np.ndarray
    variances: np.ndarray
    entries: float
    y: Axis = None


class Result:
    """A booked histogram; ``value(universe)`` once the graph has run (a varied one: under
    every universe, ``"<variation>:<tag>"``, as RDataFrame's VariationsFor)."""

    def __init__(self, graph, action):
        self._graph, self.action = graph, action

    def value(self, universe=NOMINAL):
        return self._graph.value(self.action, universe)


class Frame:
    """A node of the recorded graph, with the calls of RDataFrame that the builders use."""

    def __init__(self, graph, columns, filters):
        self._graph, self._columns, self._filters = graph, columns, filters

    def Define(self, name, expression):  # noqa: N802 - RDataFrame's names
        if name in self._columns:
            raise TmetError(f"column '{name}' is defined twice in the graph; use Redefine")
        return self._with_column(name, expression)

    def Redefine(self, name, expression):  # noqa: N802
        return self._with_column(name, expression, "redefine")

    def Vary(self, columns, expression, tags, variation):  # noqa: N802
        columns = (columns,) if isinstance(columns, str) else tuple(columns)
        missing = [c for c in columns if c not in self._columns]
        if missing:
            raise TmetError(f"Vary '{variation}': no derived column {missing} to vary")
        self._graph.add(Node("vary", self._graph.new_var(), variation, expression, dict(self._columns),
                             columns=tuple(self._columns[c] for c in columns), tags=tuple(tags), variation=variation))
        return self

    def Alias(self, name, column):  # noqa: N802
        if name in self._columns:
            raise TmetError(f"column '{name}' is defined twice in the graph; cannot alias it to '{column}'")
        if column in self._columns:
            return Frame(self._graph, {**self._columns, name: self._columns[column]}, self._filters)
        return self._with_column(name, column, "alias")

    def Snapshot(self, tree, columns, nanoaod=False):  # noqa: N802
        """Write ``columns`` of the entries that pass this node's filters (by Graph.write);
        ``nanoaod``: as a TTree in NanoAOD's layout (scalars, and arrays counted by their
        collection's ``n<Collection>`` column), which RDataFrame's Snapshot does not write."""
        if self._graph.snapshot is not None or self._graph.actions:
            raise TmetError("a graph writes one snapshot and books no histogram with it")
        self._graph.snapshot = Snapshot(tree, tuple((c, self._columns.get(c)) for c in columns), self._filters,
                                        nanoaod)

    def Filter(self, expression, name=""):  # noqa: N802
        node = self._graph.add(Node("filter", self._graph.new_var(), name or expression, expression,
                                    dict(self._columns)))
        return Frame(self._graph, self._columns, self._filters + (node.var,))

    def Histo1D(self, model, x, weight=None):  # noqa: N802
        return self._book(model, 1, (x, None, weight))

    def Histo2D(self, model, x, y, weight=None):  # noqa: N802
        return self._book(model, 2, (x, y, weight))

    def _with_column(self, name, expression, kind="define"):
        node = self._graph.add(Node(kind, self._graph.new_var(), name, expression, dict(self._columns)))
        return Frame(self._graph, {**self._columns, name: node.var}, self._filters)

    def _book(self, model, dimensions, args):
        graph, index = self._graph, len(self._graph.actions)
        if graph.snapshot is not None:
            raise TmetError("a graph writes one snapshot and books no histogram with it")
        vars_ = []
        for role, arg in zip(("x", "y", "weight"), args):
            if arg is None:
                vars_.append(None)
            elif arg in self._columns:
                vars_.append(self._columns[arg])
            else:  # an input column or an expression
                node = graph.add(Node("define", graph.new_var(), f"{model[0]} {role}", arg, dict(self._columns)))
                vars_.append(node.var)
        x, y = _axes(model, dimensions)
        action = Action(index, model[0], x, y, tuple(vars_), self._filters, dimensions)
        graph.actions.append(action)
        return Result(graph, action)


@dataclass
class Layout:
    """Where each action's universes are in a run's buffer: {action index: [universe]} in
    buffer order; universes not listed are the nominal one."""

    universes: dict
    size: int = 0
    offsets: dict = field(default_factory=dict)


class Graph:
    """A graph recorded from the builders' calls (``frame()``), compiled and run (``run``).

    ``specs``: the corrections its kernels use (analysis.engine.corrections.correction_specs);
    ``kernels``: the headers of analysis/cpp its expressions call; ``prelude``: C++ of the
    graph's own that they call (e.g. a lumi mask's data)."""

    def __init__(self, specs, kernels, description="", prelude=""):
        self.specs, self.kernels, self.description, self.prelude = specs, tuple(kernels), description, prelude
        self.nodes, self.actions, self.snapshot = [], [], None
        self._results = None

    def frame(self):
        return Frame(self, {}, ())

    def new_var(self):
        return f"tmet_c{len(self.nodes)}"

    def add(self, node):
        self.nodes.append(node)
        return node

    def vary(self, result):
        """Ask for ``result`` under every universe (RDataFrame's VariationsFor); before ``run``."""
        if self._results is not None:
            raise TmetError("ask for the variations of a result before the graph runs")
        result.action.varied = True
        return result

    def universes(self):
        """"nominal" and "<variation>:<tag>" of every Vary, in the order of the graph."""
        out = [NOMINAL]
        tags = {}
        for node in self.nodes:
            if node.kind != "vary":
                continue
            if node.variation in tags and tags[node.variation] != node.tags:
                raise TmetError(f"variation '{node.variation}' has tags {node.tags} and {tags[node.variation]}")
            if node.variation not in tags:
                tags[node.variation] = node.tags
                out += [f"{node.variation}:{tag}" for tag in node.tags]
        return out

    # ---------------------------------------------------------------------------------
    # the C++ of the graph

    def _plan(self, schema):
        """What the source needs: the nodes by var, their dependencies, the vars each
        universe recomputes, what each action fills and the stage filters."""
        by_var = {node.var: node for node in self.nodes}
        for node in self.nodes:
            if node.kind in ("define", "alias") and node.label in schema and node.label not in node.refs:
                raise TmetError(f"column '{node.label}' is defined in the graph but is also a column of the input")
        deps = {node.var: node.dependencies(schema) for node in self.nodes}
        needed = set()

        def need(var):
            if var is not None and var not in needed:
                needed.add(var)
                for _, dep in deps[var]:
                    need(dep)

        for action in self.actions:
            for var in action.args + action.filters:
                need(var)
        if self.snapshot is not None:
            for var in tuple(v for _, v in self.snapshot.columns) + self.snapshot.filters:
                need(var)
        varies = [n for n in self.nodes if n.kind == "vary" and set(n.columns) & needed]
        for node in varies:
            need(node.var)
        overrides = {}  # universe -> {var: (vary var, column position, tag position)}
        for node in varies:
            for i, tag in enumerate(node.tags):
                key = f"{node.variation}:{tag}"
                for k, column in enumerate(node.columns):
                    overrides.setdefault(key, {})[column] = (node.var, k if len(node.columns) > 1 else None, i)
        affected = {}
        for universe in self.universes()[1:]:
            changed = set(overrides.get(universe, {}))
            for node in self.nodes:
                if node.var in needed and node.kind != "vary" and any(d in changed for _, d in deps[node.var]):
                    changed.add(node.var)
            affected[universe] = changed
        fills = {}
        for action in self.actions:
            inputs = {v for v in action.args + action.filters if v is not None}
            fills[action.index] = [NOMINAL] + ([u for u in self.universes()[1:] if inputs & affected[u]]
                                               if action.varied else [])
        # every filter of every action is a stage: an RDataFrame Filter passed by the entries
        # that pass it in some universe (of all, when no variation changes it)
        filter_sets = [set(a.filters) for a in self.actions] or ([set(self.snapshot.filters)] if self.snapshot else [])
        shared = set.intersection(*filter_sets) if filter_sets else set()
        stages = [n.var for n in self.nodes if n.var in shared]
        return by_var, deps, needed, overrides, affected, fills, stages

    def source(self, schema, corrections=True):
        """(C++ source of the graph for input columns ``schema`` {name: C++ type}, Layout);
        with its corrections written as C++ (analysis.engine.correction_code) unless ``corrections``
        is false.

        Every column is a function of the columns it reads (``f_<var>``, a template, so that
        C++ deduces its type), and an ``Event`` of each slot keeps its value for the entry,
        per universe: computed by the first node that asks (a stage filter or the entry
        function), shared by the later ones."""
        by_var, deps, needed, overrides, affected, fills, stages = self._plan(schema)
        layout = Layout(fills)
        for action in self.actions:
            layout.offsets[action.index] = layout.size
            layout.size += len(fills[action.index]) * (2 * (action.x.n + 2) * (action.y.n + 2) + 1)
        universes = [u for u in self.universes() if any(u in f for f in fills.values())]
        order = [n.var for n in self.nodes if n.var in needed]
        inputs = list(dict.fromkeys(name for v in order for name, dep in deps[v] if dep is None))

        def getter(var, u):
            """The Event member function of ``var`` in universe ``u`` (its index)."""
            return f"{var}_u{u}_()" if u and var in affected[universes[u]] else f"{var}_()"

        def closure_inputs(root, u):
            """The input columns that ``root`` reads in universe ``u`` (its index)."""
            seen, out = set(), []

            def visit(var):
                if var in seen:
                    return
                seen.add(var)
                if u and var in overrides[universes[u]]:
                    visit(overrides[universes[u]][var][0])
                    return
                for name, dep in deps[var]:
                    if dep is None:
                        out.append(name)
                    else:
                        visit(dep)
            visit(root)
            return out

        # a stage's universes: those of the actions (a snapshot's: the nominal one); its
        # getters, one per distinct value
        stage_universes = [universes.index(u) for a in self.actions for u in fills[a.index]] or [0]
        stage_getters = {stage: list(dict.fromkeys(getter(stage, u) for u in stage_universes)) for stage in stages}
        exact = {stage for stage in stages if len(stage_getters[stage]) == 1}

        lines = [f"// tmet compiled graph: {self.description}", "// written by analysis/engine/compiled.py; do not edit"]
        lines += [f'#include "{h}"' for h in self.kernels] + [
            '#include "frame.h"', "", "namespace tmet_graph {", "using namespace ROOT::VecOps;", "",
            correction_code.source(bindings(self.specs, correction_code.declared_inputs) if corrections else []), "",
            self.prelude,
            "// every column, a function of the columns its expression reads"]
        for var in order:
            node, args = by_var[var], deps[var]
            template = f"template <{', '.join(f'class A{i}' for i in range(len(args)))}>\n" if args else "inline "
            params = ", ".join(f"const A{i}& {name}" for i, (name, _) in enumerate(args))
            body = node.expression if re.search(r"\breturn\b", node.expression) else f"return {node.expression};"
            label = node.label.replace("\n", " ").replace("*/", "* /")
            lines.append(f"/* {node.kind} '{label}' */")
            lines.append(f"{template}auto f_{var}({params}) {{ {body} }}")
        lines.append("")
        for var in order:
            values = ", ".join(f"std::declval<const {schema[name]}&>()" if dep is None else f"std::declval<const T_{dep}&>()"
                               for name, dep in deps[var])
            lines.append(f"using T_{var} = std::decay_t<decltype(f_{var}({values}))>;")
        lines += ["", "// the columns of one entry (``entry``), each computed at its first use in it, per universe",
                  "struct Event {", "    unsigned long long entry = ~0ULL;"]
        lines += [f"    const {schema[name]}* in_{name} = nullptr;" for name in inputs]
        members = [(var, 0) for var in order] + [(var, u) for u in range(1, len(universes))
                                                  for var in order if var in affected[universes[u]]]
        for var, u in members:
            member = f"{var}_u{u}" if u else var
            lines.append(f"    std::optional<T_{var}> {member};")
            lines.append(f"    unsigned long long {member}_entry = ~0ULL;")
            if u and var in overrides[universes[u]]:
                vary, k, i = overrides[universes[u]][var]
                value = f"{vary}_(){f'[{k}]' if k is not None else ''}[{i}]"
            else:
                value = f"f_{var}(" + ", ".join(f"*in_{name}" if dep is None else getter(dep, u)
                                                 for name, dep in deps[var]) + ")"
            lines.append(f"    const T_{var}& {member}_() {{ if ({member}_entry != entry) {{ {member} = {value}; "
                         f"{member}_entry = entry; }} return *{member}; }}")
        lines += ["};", "", "struct Graph {", "    static const std::vector<tmet::frame::Action>& actions() {",
                  "        static const std::vector<tmet::frame::Action> list = {"]
        for action in self.actions:
            lines.append(f"            {{{action.x.cpp()}, {action.y.cpp()}, {len(fills[action.index])}, "
                         f"{layout.offsets[action.index]}}},")
        lines += ["        };", "        return list;", "    }", ""]

        def parameters(names):
            return "".join(f", const {schema[name]}& {name}" for name in names)

        def pointers(names, indent):
            return [f"{indent}tmet_event.in_{name} = &{name};" for name in names]

        stage_inputs = [list(dict.fromkeys(name for u in stage_universes for name in closure_inputs(stage, u)))
                        for stage in stages]
        for k, (stage, names) in enumerate(zip(stages, stage_inputs)):
            lines += [f"    struct Stage{k} {{", "        const tmet::CorrectionTable* tmet_table;",
                      "        std::vector<Event>* tmet_events;",
                      f"        bool operator()(unsigned int tmet_slot, ULong64_t tmet_entry{parameters(names)}) const {{",
                      "            tmet::run_table() = tmet_table;", "            Event& tmet_event = (*tmet_events)[tmet_slot];",
                      "            tmet_event.entry = tmet_entry;", *pointers(names, "            "),
                      f"            return {' || '.join(f'tmet_event.{g}' for g in stage_getters[stage])};",
                      "        }", "    };", ""]
        def columns(names):
            return ", ".join(json.dumps(name) for name in ["rdfentry_", *names])

        def stage_nodes():
            return [f"        node = ROOT::RDF::AsRNode(node.Filter(Stage{k}{{&table, &events}}, "
                    f"{{\"rdfslot_\", {columns(names)}}}, {json.dumps(by_var[stage].label)}));"
                    for k, (stage, names) in enumerate(zip(stages, stage_inputs))]

        if self.snapshot is None:
            lines += self._entry(universes, fills, exact, getter, parameters, pointers, inputs)
            lines += ["    static void run(ROOT::RDF::RNode df, const tmet::CorrectionTable& table, "
                      "std::vector<std::vector<double>>& slots) {",
                      "        std::vector<Event> events(slots.size());", "        ROOT::RDF::RNode node = df;",
                      *stage_nodes(),
                      f"        node.ForeachSlot(Entry{{&table, &events, &slots}}, {{{columns(inputs)}}});", "    }",
                      "    static unsigned long long snapshot(ROOT::RDF::RNode, const tmet::CorrectionTable&, const char*,",
                      "                                       const ROOT::RDF::RSnapshotOptions&) {",
                      '        throw std::logic_error("this graph fills histograms; it writes no snapshot");', "    }"]
        else:
            lines += self._snapshot(schema, by_var, deps, getter, parameters, pointers, closure_inputs, stage_nodes)
        lines += ["};", "}  // namespace tmet_graph", "", '#include "frame_api.h"', ""]
        return "\n".join(lines), layout

    def _entry(self, universes, fills, exact, getter, parameters, pointers, inputs):
        """The C++ of the function that fills every histogram of an entry, per universe."""
        lines = ["    struct Entry {", "        const tmet::CorrectionTable* tmet_table;", "        std::vector<Event>* tmet_events;",
                 "        std::vector<std::vector<double>>* tmet_slots;",
                 f"        void operator()(unsigned int tmet_slot, ULong64_t tmet_entry{parameters(inputs)}) const {{",
                 "            tmet::run_table() = tmet_table;", "            Event& tmet_event = (*tmet_events)[tmet_slot];",
                 "            tmet_event.entry = tmet_entry;", *pointers(inputs, "            "),
                 "            double* tmet_buffer = (*tmet_slots)[tmet_slot].data();",
                 "            const auto& tmet_actions = Graph::actions();"]
        for u, universe in enumerate(universes):
            lines.append(f"            // universe {universe}")
            for action in self.actions:
                if universe not in fills[action.index]:
                    continue
                conditions = " && ".join(f"tmet_event.{getter(f, u)}" for f in action.filters if f not in exact) or "true"
                x, y, w = (f"tmet_event.{getter(v, u)}" if v else ("1.0" if role == "weight" else "0.0")
                           for role, v in zip(("x", "y", "weight"), action.args))
                lines.append(f"            if ({conditions}) tmet::frame::fill(tmet_buffer, tmet_actions[{action.index}], "
                             f"{fills[action.index].index(universe)}, {x}, {y}, {w});")
        return lines + ["        }", "    };", ""]

    def _snapshot(self, schema, by_var, deps, getter, parameters, pointers, closure_inputs, stage_nodes):
        """The C++ of a typed Snapshot: input columns as they are (an alias of one by
        RDataFrame's Alias), derived ones computed by the slot's Event (so that what a
        stage filter computed is not computed again) into columns of their own names."""
        snap, lines, nodes, types, computed = self.snapshot, [], [], [], {}
        for k, (name, var) in enumerate(snap.columns):
            if var is None:
                if name not in schema:
                    raise TmetError(f"snapshot column '{name}' is neither in the input nor defined in the graph")
                types.append(schema[name])
                continue
            node = by_var[var]
            if node.kind == "alias" and deps[var] and deps[var][0][1] is None:
                nodes.append(f"        node = ROOT::RDF::AsRNode(node.Alias({json.dumps(name)}, "
                             f"{json.dumps(deps[var][0][0])}));")
                types.append(schema[deps[var][0][0]])
                continue
            names = list(dict.fromkeys(closure_inputs(var, 0)))
            lines += [f"    struct Column{k} {{", "        const tmet::CorrectionTable* tmet_table;",
                      "        std::vector<Event>* tmet_events;",
                      f"        T_{var} operator()(unsigned int tmet_slot, ULong64_t tmet_entry{parameters(names)}) const {{",
                      "            tmet::run_table() = tmet_table;", "            Event& tmet_event = (*tmet_events)[tmet_slot];",
                      "            tmet_event.entry = tmet_entry;", *pointers(names, "            "),
                      f"            return tmet_event.{getter(var, 0)};", "        }", "    };", ""]
            # computed from the inputs first, then given its name (which may be an input's)
            columns = ", ".join(json.dumps(c) for c in ["rdfslot_", "rdfentry_", *names])
            nodes.append(f"        node = ROOT::RDF::AsRNode(node.Define(\"tmet_out{k}\", Column{k}{{&table, &events}}, "
                         f"{{{columns}}}));")
            types.append(f"T_{var}")
            computed[k] = (name, var)
        renames = []  # after every Define, so that each read the inputs, not a redefined one
        for k, (name, var) in computed.items():
            if name in schema:
                renames.append(f"        node = ROOT::RDF::AsRNode(node.Redefine({json.dumps(name)}, "
                               f"[](const T_{var}& v) {{ return v; }}, {{\"tmet_out{k}\"}}));")
            else:
                renames.append(f"        node = ROOT::RDF::AsRNode(node.Alias({json.dumps(name)}, \"tmet_out{k}\"));")
        names = ", ".join(json.dumps(name) for name, _ in snap.columns)
        return lines + [
            "    static void run(ROOT::RDF::RNode, const tmet::CorrectionTable&, std::vector<std::vector<double>>&) {",
            '        throw std::logic_error("this graph writes a snapshot; it fills no histogram");', "    }",
            "    static unsigned long long snapshot(ROOT::RDF::RNode df, const tmet::CorrectionTable& table, "
            "const char* path,", "                                       const ROOT::RDF::RSnapshotOptions& options) {",
            "        std::vector<Event> events(df.GetNSlots());", "        ROOT::RDF::RNode node = df;", *stage_nodes(),
            *nodes, *renames,
            *([f"        return tmet::nano::snapshot<{', '.join(types)}>(node, {json.dumps(snap.tree)}, path, "
               f"{{{names}}}, options);"] if snap.nanoaod else
              ["        auto count = node.Count();",
               f"        node.Snapshot<{', '.join(types)}>({json.dumps(snap.tree)}, path, {{{names}}}, options);",
               "        return *count;"]),
            "    }"]

    # ---------------------------------------------------------------------------------
    # running it

    def compile(self, schema):
        """(the graph's Library for input columns ``schema``, its Layout), built if needed;
        besides the input's columns, RDataFrame's ``rdfentry_`` (the entry, counted over
        all the inputs in a run on one thread) can be read."""
        schema = {**schema, ENTRY: "ULong64_t"}
        source, layout = self.source(schema)
        try:
            path = build.build("tmet_graph", source, RUNTIME_HEADERS + self.kernels)
        except TmetError as error:
            plain, layout = self.source(schema, corrections=False)
            if plain == source:
                raise
            # the graph without the written corrections, correctionlib evaluating them all:
            # if it does not compile either, its own error is raised
            path = build.build("tmet_graph", plain, RUNTIME_HEADERS + self.kernels)
            warnings.warn(f"tmet: the corrections written as C++ for {self.description} do not compile; "
                          f"correctionlib evaluates them ({str(error)[:500]})")
        return Library(path), layout

    def run(self, paths, tree="Events", threads=1, client=None, partitions=0):
        """Fill every booked histogram from ``paths``: here with ``threads`` threads, or on the
        Dask ``client`` in ``partitions`` entry ranges (0: one per worker thread)."""
        if not paths:
            raise TmetError("a graph needs at least one input file")
        paths, counts = readable_inputs(paths, tree)
        schema = input_schema(paths[0], tree)
        library, layout = self.compile(schema)
        if client is None or not sum(counts):  # nothing to split: one range, here
            client, ranges = None, [(list(paths), 0, 0)]
        else:
            ranges = partition(paths, counts, partitions or max(sum(client.nthreads().values()), 1))
        buffers = dispatch(client, run_partition,
                           [(library.path, self.specs, tree, files, begin, end, threads if client is None else 1,
                             layout.size) for files, begin, end in ranges],
                           files=self._files(library), what=f"the event loop over {', '.join(paths)}")
        total = np.zeros(layout.size)
        for buffer in buffers:  # in partition order, for reproducible sums
            total += buffer
        self._results = _unpack(total, self.actions, layout)

    def write(self, paths, output, compression, tree="Events", threads=1, client=None, output_format="TTree",
              friends=None):
        """Run the graph's ``Snapshot`` over ``paths`` into ``output`` (``compression``: a
        dict of ROOT's algorithm name and level; ``output_format``: "TTree" or "RNTuple",
        named ``tree`` too), with the columns of ``friends`` (analysis.engine.friends, one
        friend file per path): here with ``threads`` threads, or as one
        task on a worker of the Dask ``client``, which writes ``output`` itself (a URL of the
        store). Returns the number of entries written."""
        if self.snapshot is None:
            raise TmetError("the graph has no snapshot to write")
        if not paths:
            raise TmetError("a graph needs at least one input file")
        if self.snapshot.nanoaod and (output_format != "TTree" or threads != 1):
            raise TmetError(f"{self.description}: a NanoAOD snapshot is a TTree written by one thread")
        if friends is None:
            paths, _ = readable_inputs(paths, tree)
        elif friends.by_entry and threads != 1:
            raise TmetError(f"{self.description}: an RNTuple input with a friend file is read by one thread, "
                            f"not {threads} (threads 1)")
        library, _ = self.compile({**input_schema(paths[0], tree), **(friends.schema() if friends else {})})
        try:
            (written,) = dispatch(client, write_snapshot,
                                  [(library.path, self.specs, tree, list(paths), output, compression, output_format,
                                    threads if client is None else 1, friends)],
                                  files=self._files(library),
                                  what=f"{self.description}: writing {output} from {', '.join(paths)}")
        except Exception:
            remove_partial([output])
            raise
        return written

    def _files(self, library):
        """What a worker needs of the client's files to run the graph: its library, the correction files."""
        return [library.path, *(spec["file"] for spec in self.specs.values())]

    def value(self, action, universe):
        if self._results is None:
            raise TmetError("the graph has not run yet")
        if universe not in self.universes():
            raise TmetError(f"unknown universe '{universe}'; the graph has {self.universes()}")
        if universe != NOMINAL and not action.varied:
            raise TmetError(f"histogram '{action.name}' was not asked for its variations (Graph.vary)")
        results = self._results[action.index]
        return results.get(universe, results[NOMINAL])


def _unpack(buffer, actions, layout):
    """{action index: {universe: Histogram}} of a run's buffer."""
    out = {}
    for action in actions:
        nx, ny = action.x.n + 2, action.y.n + 2
        bins, start = nx * ny, layout.offsets[action.index]
        out[action.index] = {}
        for j, universe in enumerate(layout.universes[action.index]):
            block = buffer[start + j * (2 * bins + 1):start + (j + 1) * (2 * bins + 1)]
            shape = (ny, nx) if action.dimensions == 2 else (nx,)
            out[action.index][universe] = Histogram(
                action.x, block[:bins].reshape(shape).copy(), block[bins:2 * bins].reshape(shape).copy(),
                float(block[2 * bins]), action.y if action.dimensions == 2 else None)
    return out


class Library:
    """A compiled graph loaded in this process: its corrections bound, its runs."""

    def __init__(self, path):
        self.path = path
        lib = build.load(path)
        lib.tmet_key_name.restype = ctypes.c_char_p
        lib.tmet_correction_inputs.restype = ctypes.c_char_p
        lib.tmet_bind.restype = ctypes.c_void_p
        lib.tmet_bind.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                  ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int),
                                  ctypes.POINTER(ctypes.c_char_p)]
        lib.tmet_buffer_size.restype = ctypes.c_longlong
        lib.tmet_snapshot.restype = ctypes.c_char_p
        lib.tmet_snapshot.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p,
                                      ctypes.c_char_p, ctypes.c_int,
                                      ctypes.c_longlong, ctypes.POINTER(ctypes.c_ulonglong)]
        lib.tmet_run.restype = ctypes.c_char_p
        lib.tmet_run.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_longlong,
                                 ctypes.c_longlong, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_double)]
        names = tuple(lib.tmet_key_name(i).decode() for i in range(len(KEYS)))
        if names != KEYS:
            raise TmetError(f"{path}: its correction roles {names} are not analysis/engine/corrections.py's {KEYS}")
        self._lib = lib
        self.compiled = set()  # the roles whose corrections its own code evaluates (table())

    def declared_inputs(self, file, name, content):
        text = self._lib.tmet_correction_inputs(file.encode(), name.encode(), content.encode()).decode()
        if text.startswith("!"):
            raise TmetError(text[1:])
        return [tuple(line.split(" ")) for line in text.splitlines()]

    def table(self, specs):
        """The corrections of ``specs`` bound in this process, one pointer per role."""
        table = (ctypes.c_void_p * len(KEYS))()
        for b in bindings(specs, self.declared_inputs):
            error, state = ctypes.c_char_p(), ctypes.c_int()
            strings = (ctypes.c_char_p * max(len(b.fixed), 1))(*(v.encode() for v in b.fixed))
            variations = (ctypes.c_char_p * max(len(b.variations), 1))(*(v.encode() for v in b.variations))
            n = len(QUANTITIES[b.key])
            points = [] if b.key in correction_code.NOT_COMPILED else correction_code.check_points(b, n)
            pointer = self._lib.tmet_bind(b.file.encode(), b.name.encode(), b.content.encode(), len(b.sources),
                                          (ctypes.c_int * max(len(b.sources), 1))(*b.sources), strings,
                                          len(b.variations), variations, b.spec.encode(),
                                          correction_code.code_key(b).encode(), len(points) // n, n,
                                          (ctypes.c_double * max(len(points), 1))(*points), ctypes.byref(state),
                                          ctypes.byref(error))
            if not pointer:
                raise TmetError(f"cannot bind correction '{b.name}' of {b.file} (for '{b.key}'): "
                                f"{error.value.decode()}")
            if state.value < 0:
                warnings.warn(f"tmet: the compiled code of {error.value.decode()}; correctionlib evaluates it")
            elif state.value > 0:
                self.compiled.add(b.key)
            table[b.index] = pointer
        return table

    def run(self, tree, files, begin, end, threads, table, size):
        """The buffer of one run over ``files`` (entries [begin, end) when end > 0)."""
        if self._lib.tmet_buffer_size() != size:
            raise TmetError(f"{self.path}: its buffer is not the layout's ({size} doubles)")
        buffer = np.zeros(size)
        names = (ctypes.c_char_p * len(files))(*(f.encode() for f in files))
        error = self._lib.tmet_run(tree.encode(), len(files), names, begin, end, threads, table,
                                   buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
        if error is not None:
            raise TmetError(f"the event loop over {', '.join(files)} failed: {error.decode()}")
        return buffer


    def snapshot(self, tree, files, threads, table, output, compression, output_format, friends=None,
                 autoflush=10000):
        """Entries written by the graph's snapshot of ``files`` (with ``friends``) into
        ``output``. Nothing selected is written as an empty TTree, whatever
        ``output_format`` says: ROOT 6.40's RDataFrame crashes on an RNTuple without entries
        (see ``readable_inputs``)."""
        written = self._snapshot(tree, files, threads, table, output, compression, output_format, friends, autoflush)
        if written == 0 and output_format != "TTree":
            self._snapshot(tree, files, threads, table, output, compression, "TTree", friends, autoflush)
        return written

    def _snapshot(self, tree, files, threads, table, output, compression, output_format, friends, autoflush):
        names = _strings(files)
        friend_files, columns = (_strings(friends.files), _strings(friends.column_lines())) if friends else \
            (_strings([]), _strings([]))
        written = ctypes.c_ulonglong()
        error = self._lib.tmet_snapshot(tree.encode(), len(files), names, len(friend_files), friend_files,
                                        (friends.tree if friends else "").encode(), len(columns), columns,
                                        int(bool(friends and friends.by_entry)), threads, table, output.encode(),
                                        output_format.encode(), str(compression["algorithm"]).encode(), int(compression["level"]), autoflush,
                                        ctypes.byref(written))
        if error is not None:
            raise TmetError(f"writing {output} from {', '.join(files)} failed: {error.decode()}")
        return written.value


def partition(paths, counts, n):
    """About ``n`` entry ranges of equal size over ``paths`` with ``counts`` entries:
    [(files, begin, end)], begin and end counted over those files."""
    total = sum(counts)
    bounds = sorted({round(total * k / n) for k in range(n + 1)})
    starts = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        files = [i for i in range(len(paths)) if starts[i] < end and starts[i + 1] > begin]
        offset = int(starts[files[0]])
        out.append(([paths[i] for i in files], begin - offset, end - offset))
    return out


def loaded(setup, library_path, specs):
    """The graph's library and its correction table, from the client's files as this process
    finds them (``setup``: see analysis.engine.dispatch.dispatch)."""
    library = Library(local_path(setup, library_path))
    return library, library.table(local_specs(setup, specs))


def run_partition(setup, library_path, specs, tree, files, begin, end, threads, size):
    """The buffer of the entries [begin, end) of ``files`` (all: end 0), with ``threads`` threads."""
    library, table = loaded(setup, library_path, specs)
    return library.run(tree, files, begin, end, threads, table, size)


def write_snapshot(setup, library_path, specs, tree, files, output, compression, output_format, threads,
                   friends=None):
    """The graph's snapshot of ``files`` (with ``friends``) into ``output`` (on a Dask worker:
    a URL of the store, or a path the worker shares with the client); returns the entries
    written."""
    library, table = loaded(setup, library_path, specs)
    return library.snapshot(tree, files, threads, table, output, compression, output_format, friends)


def _strings(values):
    """``values`` as a C array of char*."""
    return (ctypes.c_char_p * len(values))(*(v.encode() for v in values))
