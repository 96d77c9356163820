"""Datasets of a config, declared in YAML so that adding one needs no Python.

A ``<config>_datasets.yaml`` next to the config module holds::

    campaign: {...}                # synthetic campaigns: generator-level pileup profile, data runs
    generator_defaults: {...}      # synthetic campaigns: default generator settings
    datasets:
      <name>:
        process: <process name>    # a process of config/processes.py
        data: true | false
        key: /DAS/dataset/NAME     # optional, real datasets
        files: [paths or LFNs]     # or the name of a text file, one path or LFN per line
        filter_efficiency: 1.0     # optional: the generator filter efficiency that goes with
                                   # the process's cross section (XSDB pairs them)
        nano_version: 12           # optional: the files' NanoAOD version (default: the campaign's)
        top_candidates: tmet       # optional: tmet makes the files' top candidates (STEP 1,
                                   # the default), or in_files: they hold them (the group's
                                   # existing STEP 1 outputs)
        generator: {...}           # synthetic datasets instead of files (filter_efficiency there)

Every mistake a user can make here is a ``TmetError`` naming the file, the dataset and
the field.
"""

import os

import yaml

from analysis.errors import TmetError, checked_name, unknown_name_error
from analysis.physics.generator import check_generator_settings
from analysis.physics.nanoaod import check_version

TOP_LEVEL_KEYS = {"campaign", "generator_defaults", "settings", "datasets"}
REQUIRED_FIELDS = ("process", "data")
KNOWN_FIELDS = {"process", "data", "key", "files", "generator", "filter_efficiency", "nano_version", "top_candidates"}
# who makes a dataset's top candidates (STEP 1): tmet (TopCandidates) or its files hold them
TOP_CANDIDATES = ("tmet", "in_files")


def read_yaml(path):
    """The parsed datasets YAML ``path``; syntax errors and unknown top-level keys name the file."""
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except OSError as e:
        raise TmetError(f"cannot read dataset file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise TmetError(f"invalid YAML in {path}: {e}") from e
    if not isinstance(content, dict) or not isinstance(content.get("datasets"), dict):
        raise TmetError(f"{path} must be a mapping with a 'datasets' mapping")
    unknown = sorted(set(content) - TOP_LEVEL_KEYS)
    if unknown:
        raise TmetError(f"{path}: unknown key(s) {unknown}; known: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    return content


def read_file_list(path, base_dir):
    """Paths or LFNs of a text file, one per line (blank lines and # comments skipped)."""
    full = path if os.path.isabs(path) else os.path.join(base_dir, path)
    try:
        with open(full) as f:
            lines = [line.split("#", 1)[0].strip() for line in f]
    except OSError as e:
        raise TmetError(f"cannot read file list {full}: {e.strerror}") from e
    return [line for line in lines if line]


def _check_entry(where, entry, processes):
    if not isinstance(entry, dict):
        raise TmetError(f"{where}: expected a mapping of fields, got {entry!r}")
    for field in REQUIRED_FIELDS:
        if field not in entry:
            raise TmetError(f"{where}: missing field '{field}'")
    unknown = set(entry) - KNOWN_FIELDS
    if unknown:
        raise TmetError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(KNOWN_FIELDS)}")
    if not isinstance(entry["data"], bool):
        raise TmetError(f"{where}: field 'data' must be true or false")
    if ("files" in entry) == ("generator" in entry):
        raise TmetError(f"{where}: give exactly one of 'files' (real inputs) or 'generator' (synthetic)")
    for field in ("filter_efficiency", "nano_version"):
        if "generator" in entry and field in entry:
            raise TmetError(f"{where}: a synthetic dataset gives '{field}' among its generator settings")
    top_candidates = entry.get("top_candidates", "tmet")
    if top_candidates not in TOP_CANDIDATES:
        raise TmetError(f"{where}: 'top_candidates' must be one of {', '.join(TOP_CANDIDATES)}, got {top_candidates!r}")
    if top_candidates == "in_files" and "generator" in entry:
        raise TmetError(f"{where}: a synthetic dataset's files hold no top candidates (tmet makes them): "
                        f"drop 'top_candidates: in_files'")
    if entry["process"] not in processes:
        raise TmetError(f"{where}: {unknown_name_error('process', entry['process'], processes)}")
    process = processes[entry["process"]]
    if process.is_data != entry["data"]:
        raise TmetError(
            f"{where}: 'data: {str(entry['data']).lower()}' contradicts process '{process.name}' "
            f"(is_data={process.is_data})",
        )


def _checked_filter_efficiency(where, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise TmetError(f"{where}: 'filter_efficiency' must be a number in (0, 1], got {value!r}")
    return float(value)


def add_datasets(content, path, campaign, processes, nano_version):
    """Create the datasets of the YAML ``content`` (read from ``path``) in ``campaign``,
    linked to ``processes`` (name -> Process); ``nano_version``: the campaign's."""
    base_dir = os.path.dirname(os.path.abspath(path))
    defaults = content.get("generator_defaults") or {}
    for dataset_id, (name, entry) in enumerate(content["datasets"].items(), start=1):
        where = f"{path}, dataset '{name}'"
        try:
            checked_name("dataset", name)
        except TmetError as e:
            raise TmetError(f"{path}: {e}") from None
        _check_entry(where, entry, processes)
        aux = {"key": entry.get("key", name), "top_candidates": entry.get("top_candidates", "tmet")}
        if "generator" in entry:
            if not isinstance(entry["generator"] or {}, dict):
                raise TmetError(f"{where}: 'generator' must be a mapping of generator settings")
            aux["generator"] = check_generator_settings({**defaults, **(entry["generator"] or {})}, where,
                                                        entry["data"])
            aux["filter_efficiency"] = _checked_filter_efficiency(where, aux["generator"]["filter_efficiency"])
            aux["nano_version"] = check_version(aux["generator"]["nano_version"], where)
            aux["synthetic"] = True
        else:
            files = entry["files"]
            if isinstance(files, str):
                # resolved lazily: real file lists may be filled later by a DAS query
                aux["file_list"] = files if os.path.isabs(files) else os.path.join(base_dir, files)
            elif isinstance(files, list) and files and all(isinstance(f, str) for f in files):
                aux["files"] = list(files)
            else:
                raise TmetError(f"{where}: 'files' must be a non-empty list of paths or a file name")
            aux["filter_efficiency"] = _checked_filter_efficiency(where, entry.get("filter_efficiency", 1.0))
            aux["nano_version"] = check_version(entry.get("nano_version", nano_version), where)
            aux["synthetic"] = False
        campaign.add_dataset(
            name=name,
            id=dataset_id,
            processes=[processes[entry["process"]]],
            is_data=entry["data"],
            aux=aux,
        )


def listed_files(dataset):
    """The input files (paths or LFNs) of a real dataset, as listed so far (maybe none)."""
    if dataset.has_aux("files"):
        return list(dataset.x.files)
    return read_file_list(dataset.x.file_list, os.path.dirname(dataset.x.file_list))


def input_files(dataset):
    """What the dataset's skims read, one by one: its real files as listed so far, or, for a
    synthetic dataset, the indices of its GenerateSample files."""
    if dataset.x.synthetic:
        return list(range(int(dataset.x.generator["files"])))
    return listed_files(dataset)


def dataset_files(dataset):
    """The input files (paths or LFNs) of a real dataset; an empty file list is an error."""
    files = listed_files(dataset)
    if not files:
        raise TmetError(
            f"dataset '{dataset.name}': file list {dataset.x.file_list} is empty; fill it with one LFN "
            f"per line (e.g. dasgoclient -query='file dataset={dataset.x.key}')",
        )
    return files


def get_dataset(config, name):
    """The dataset ``name`` of ``config``; an unknown name lists the valid ones."""
    if not config.has_dataset(name):
        raise unknown_name_error("dataset", name, config.datasets.names())
    return config.get_dataset(name)
