"""Provenance records: what made an output, so that a changed config value, code or input
makes exactly the outputs that depend on it out of date (Snakemake's rerun triggers).

Next to every output ``X`` lies ``.tmet/X.record.json``: the digests of the config values its
task used (per section, e.g. ``categories``), of the code it ran (its analysis modules and
the C++ they declare), the versions of ROOT, correctionlib and law, and of each input
(its record, size and mtime); tmet's commit and whether the tree was dirty are kept for
information (the code digest stands for them, so a commit that changes only docs reruns
nothing). A task is out of date where the record it would write now differs, or where an
output is missing, has no record, or no longer is the file its record describes.

``tasks.freshness`` decides from them whether an output is up to date, and its
``trusted_run`` writes them. ``python -m tasks.provenance PATH`` prints an output's record.
"""

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import urllib.parse

import law
from scinum import Number

from analysis.errors import TmetError
from analysis.revision import source_stamp, tmet_revision
from tasks.store import atomic_write, flat_targets, is_remote, sidecar, store_location

RECORD_SUFFIX = ".record.json"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTWARE = ("root", "correctionlib", "law")


def digest(value):
    """A short digest of a JSON-able value; scinum Numbers by their nominal value and sorted
    uncertainties (their own order, and so their str, can differ between processes), other
    objects by their str."""
    text = value if isinstance(value, (str, bytes)) else json.dumps(value, sort_keys=True, default=_canonical)
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]


def _canonical(value):
    if isinstance(value, Number):
        return [value.nominal, sorted((name, list(u)) for name, u in value.uncertainties.items())]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


@functools.cache
def software():
    return {name: importlib.metadata.version(name) for name in SOFTWARE}


def code_digest(modules):
    """Digest of the sources of ``modules`` (analysis module names), the analysis modules they
    import, and the C++ files of analysis/cpp they name (with their local includes)."""
    return _code_digest(tuple(sorted(modules)), source_stamp(("analysis",)))


@functools.cache
def _code_digest(modules, stamp):
    sources, seen, pending = {}, set(), list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path, text, imported, headers = _module_source(module, stamp)
        sources[os.path.relpath(path, REPO)] = text
        pending += imported
        for header in headers:
            _add_cpp(os.path.join(REPO, "analysis", "cpp", header), sources)
    return digest(sources)


@functools.cache
def _module_source(module, stamp):
    """(path, text, analysis modules it imports, C++ files it names) of an analysis module:
    parsed once per process and source stamp, however many digests share it."""
    del stamp  # part of the cache key only
    path = _module_file(module)
    text = open(path).read()
    imported = []
    for node in ast.walk(ast.parse(text)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                 if isinstance(node, ast.ImportFrom) and node.module else [])
        imported += [n for n in names if n.split(".")[0] == "analysis" and _module_file(n)]
    return path, text, imported, re.findall(r"""["']([\w.]+\.(?:h|cxx))["']""", text)


def _module_file(name):
    """The source file of module ``name`` (None where ``name`` is not a module, e.g. a class)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ModuleNotFoundError, ValueError):
        return None
    return spec.origin if spec and spec.origin and spec.origin.endswith(".py") else None


def _add_cpp(path, sources):
    key = os.path.relpath(path, REPO)
    if key in sources or not os.path.exists(path):
        return
    sources[key] = text = open(path).read()
    for header in re.findall(r'#include "([\w.]+)"', text):
        _add_cpp(os.path.join(os.path.dirname(path), header), sources)


def record_target(output):
    """The record of ``output``, in the sidecar directory next to it."""
    if is_remote(output):
        return output.__class__(sidecar(output.path, RECORD_SUFFIX), fs=output.fs)
    return law.LocalFileTarget(sidecar(output.abspath, RECORD_SUFFIX))


def read_record(output):
    """The record of ``output`` (None where there is none, or it is not JSON)."""
    target = record_target(output)
    if not target.exists():
        return None
    try:
        return json.loads(target.load(formatter="text"))
    except ValueError:
        return None


def store_relative(target):
    if is_remote(target):
        return target.path
    return os.path.relpath(target.abspath, store_location())


def current_record(task, input_digest):
    """The record ``task`` would write now (without its output's own size); ``input_digest``
    gives the digest of an input target."""
    return {
        "task": task.task_family,
        "parameters": task.to_str_params(only_significant=True),
        "config": {section: digest(value) for section, value in task.used_config().items()},
        "code": code_digest(task.code_modules),
        "software": software(),
        "inputs": {store_relative(t): input_digest(t) for t in flat_targets(task.input())},
        "tmet": tmet_revision(),
    }


def input_digest(target):
    """Digest of an input: its record, size and mtime (a remade or touched input changes it)."""
    if not target.exists():
        return "missing"
    info = target.stat()
    record = read_record(target)
    return digest([record, info.st_size, int(info.st_mtime)])


def output_problem(output, record):
    """Why an existing ``output`` with its ``record`` (read_record) cannot be trusted as a
    file (None where it can)."""
    if record is None:
        return "no record"
    size = output.stat().st_size
    if size != record.get("output", {}).get("size"):
        return f"changed since it was made ({size} bytes, its record says {record.get('output', {}).get('size')})"
    if not is_remote(output):
        if output.abspath.endswith(".root"):
            with open(output.abspath, "rb") as f:
                if f.read(4) != b"root":
                    return "not a ROOT file"
        elif output.abspath.endswith(".json"):
            try:
                json.load(open(output.abspath))
            except ValueError:
                return "not a JSON file"
    return None


def record_differences(stored, current):
    """The parts of ``current`` that differ from the ``stored`` record, e.g. "config (categories)"."""
    differences = []
    sections = sorted(set(stored.get("config", {})) | set(current["config"]))
    changed = [s for s in sections if stored.get("config", {}).get(s) != current["config"].get(s)]
    if changed:
        differences.append(f"config ({', '.join(changed)})")
    for part in ("code", "software", "inputs", "parameters"):
        if stored.get(part) != current[part]:
            differences.append(part)
    return differences


def output_reasons(output, current):
    """Why ``output`` is out of date against the ``current`` record ([]: it is up to date)."""
    if not output.exists():
        return ["missing"]
    record = read_record(output)
    problem = output_problem(output, record)
    if problem:
        return [problem]
    return record_differences(record, current)


def write_record(output, current):
    record = {**current, "output": {"size": output.stat().st_size}}
    with atomic_write(record_target(output)) as (tmp, _):
        tmp.dump(json.dumps(record, indent=1, sort_keys=True), formatter="text")


def main(argv):
    """Print the record of each output path or URL given."""
    if len(argv) < 2:
        print(__doc__.split("\n\n")[0])
        print("usage: python -m tasks.provenance OUTPUT [OUTPUT ...]  (a path in the store or a root:// URL)")
        return 2
    for path in argv[1:]:
        if path.startswith("root://"):
            from tasks.store import remote_store

            # the file system of the output's directory (a server may not export its root)
            url = urllib.parse.urlsplit(path)
            fs = remote_store(f"root://{url.netloc}//{os.path.dirname(url.path).lstrip('/')}")  # loads law.wlcg
            target = law.wlcg.WLCGFileTarget(os.path.basename(url.path), fs=fs)
        else:
            target = law.LocalFileTarget(os.path.abspath(path))
        record = read_record(target)
        if record is None:
            raise TmetError(f"{path} has no record ({record_target(target).uri()} is missing or not JSON)")
        print(f"# {path}")
        print(json.dumps(record, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
