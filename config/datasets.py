"""Datasets of a config, declared in YAML so that adding one needs no Python.

A ``<config>_datasets.yaml`` next to the config module holds::

    campaign: {...}                # synthetic campaigns: generator-level pileup profile, data runs
    generator_defaults: {...}      # synthetic campaigns: default generator settings
    datasets:
      <name>:
        process: <process name>    # a process of config/processes.py
        data: true | false
        key: /DAS/dataset/NAME     # optional, real datasets; a list for a sample and its extensions
        files: [paths or LFNs]     # or the name of a text file, one path or LFN per line; or a list
                                   # of such text files (a sample and its extensions, as key lists
                                   # them): one dataset, one sum of weights over all its parts
        filter_efficiency: 1.0     # optional: the generator filter efficiency that goes with
                                   # the process's cross section (XSDB pairs them)
        nano_version: 12           # optional: the files' NanoAOD version (default: the campaign's)
        top_candidates: tmet       # optional: tmet makes the files' top candidates (STEP 1,
                                   # the default), or in_files: they hold them (the group's
                                   # existing STEP 1 outputs)
        top_candidates_output: friend  # optional (tmet's STEP 1): full, a copy of every branch
                                   # with the candidates, or friend, the candidates alone beside
                                   # the input (default: the campaign's top_candidates_output)
        step1_preselection: {...}  # in_files: the preselection their STEP 1 applied ({met_min,
                                   # jet_pt_min, n_jet_min}, or none), checked against the skim
        missing_weights: [PSWeight]  # optional: generator-weight arrays the sample does not store
                                   # (NanoAOD's one entry of 1): the shifts reading them are its nominal
        generator: {...}           # synthetic datasets instead of files (filter_efficiency there)

Every mistake a user can make here is a ``TmetError`` naming the file, the dataset and
the field. What needs the analysis code to judge (generator settings, NanoAOD versions,
datasets that share a process, a STEP 1 preselection against the skim) is checked on the
built config by ``analysis.physics.checks``.
"""

import os

import yaml

from analysis.errors import TmetError, checked_name, unknown_name_error

TOP_LEVEL_KEYS = {"campaign", "generator_defaults", "settings", "datasets"}
REQUIRED_FIELDS = ("process", "data")
KNOWN_FIELDS = {"process", "data", "key", "files", "generator", "filter_efficiency", "nano_version", "top_candidates",
                "top_candidates_output", "step1_preselection", "missing_weights"}
# who makes a dataset's top candidates (STEP 1): tmet (TopCandidates) or its files hold them
TOP_CANDIDATES = ("tmet", "in_files")
# what tmet's STEP 1 writes: every input branch with the candidates, or a friend file of the
# candidates alone per input file (docs/engine.md)
TOP_CANDIDATES_OUTPUTS = ("full", "friend")


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
    if "top_candidates_output" in entry:
        checked_top_candidates_output(where, entry["top_candidates_output"])
        if top_candidates != "tmet":
            raise TmetError(f"{where}: 'top_candidates_output' says what tmet's STEP 1 writes, but the files hold their "
                            f"top candidates ('top_candidates: in_files'): drop it")
    if "step1_preselection" in entry and top_candidates != "in_files":
        raise TmetError(f"{where}: 'step1_preselection' describes files that hold their top candidates "
                        f"('top_candidates: in_files'); tmet's own STEP 1 applies config.x.top_candidates")
    missing = entry.get("missing_weights", [])
    if not isinstance(missing, list) or not all(isinstance(name, str) for name in missing):
        raise TmetError(f"{where}: 'missing_weights' must be a list of branch names (e.g. [PSWeight])")
    if entry["process"] not in processes:
        raise TmetError(f"{where}: {unknown_name_error('process', entry['process'], processes)}")
    process = processes[entry["process"]]
    if process.is_data != entry["data"]:
        raise TmetError(
            f"{where}: 'data: {str(entry['data']).lower()}' contradicts process '{process.name}' "
            f"(is_data={process.is_data})",
        )


def _inputs(where, entry, base_dir):
    """{keys, files, file_lists} of a real dataset: its DAS keys (a sample and its
    extensions), the files it names and the text files that list more, in order."""
    keys = entry.get("key", [])
    keys = [keys] if isinstance(keys, str) else keys
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise TmetError(f"{where}: 'key' must be a DAS dataset name or a list of them (a sample and its extensions)")
    files = entry["files"]
    files = [files] if isinstance(files, str) else files
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise TmetError(f"{where}: 'files' must be a text file listing the files, or a non-empty list of files "
                        f"(.root) or of such text files")
    lists = [f if os.path.isabs(f) else os.path.join(base_dir, f) for f in files if not f.endswith(".root")]
    if lists and len(lists) != len(files):
        raise TmetError(f"{where}: 'files' mixes ROOT files and file lists: give one or the other")
    if lists and keys and len(keys) != len(lists):
        raise TmetError(f"{where}: {len(keys)} keys but {len(lists)} file lists: give a file list per key "
                        f"(scripts/das_file_lists.py fills each from its key)")
    return {"keys": keys, "files": [] if lists else list(files), "file_lists": lists}


def _checked_filter_efficiency(where, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise TmetError(f"{where}: 'filter_efficiency' must be a number in (0, 1], got {value!r}")
    return float(value)


def checked_top_candidates_output(where, value):
    if value not in TOP_CANDIDATES_OUTPUTS:
        raise TmetError(f"{where}: 'top_candidates_output' must be one of {', '.join(TOP_CANDIDATES_OUTPUTS)}, got "
                        f"{value!r}")
    return value


def add_datasets(content, path, campaign, processes, nano_version, top_candidates_output):
    """Create the datasets of the YAML ``content`` (read from ``path``) in ``campaign``,
    linked to ``processes`` (name -> Process); ``nano_version`` and
    ``top_candidates_output``: the campaign's."""
    base_dir = os.path.dirname(os.path.abspath(path))
    defaults = content.get("generator_defaults") or {}
    for dataset_id, (name, entry) in enumerate(content["datasets"].items(), start=1):
        where = f"{path}, dataset '{name}'"
        try:
            checked_name("dataset", name)
        except TmetError as e:
            raise TmetError(f"{path}: {e}") from None
        _check_entry(where, entry, processes)
        aux = {"top_candidates": entry.get("top_candidates", "tmet"),
               "top_candidates_output": entry.get("top_candidates_output", top_candidates_output),
               "missing_weights": list(entry.get("missing_weights", []))}
        if "step1_preselection" in entry:
            aux["step1_preselection"] = entry["step1_preselection"]
        if "generator" in entry:
            if not isinstance(entry["generator"] or {}, dict):
                raise TmetError(f"{where}: 'generator' must be a mapping of generator settings")
            # checked, with the filter efficiency and the version, by analysis.physics.checks
            aux["generator"] = {**defaults, **(entry["generator"] or {})}
            aux["filter_efficiency"] = aux["generator"].get("filter_efficiency")
            aux["nano_version"] = aux["generator"].get("nano_version")
            aux["synthetic"] = True
        else:
            aux.update(_inputs(where, entry, base_dir))
            aux["filter_efficiency"] = _checked_filter_efficiency(where, entry.get("filter_efficiency", 1.0))
            aux["nano_version"] = entry.get("nano_version", nano_version)
            aux["synthetic"] = False
        campaign.add_dataset(
            name=name,
            id=dataset_id,
            processes=[processes[entry["process"]]],
            is_data=entry["data"],
            aux=aux,
        )


def listed_files(dataset):
    """The input files (paths or LFNs) of a real dataset, as listed so far (maybe none): the
    files it names, then those of its file lists (a sample and its extensions) in order."""
    files = list(dataset.x.files)
    for file_list in dataset.x.file_lists:
        files += read_file_list(file_list, os.path.dirname(file_list))
    return files


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
        keys = " and ".join(f"dataset={key}" for key in dataset.x.keys) or "dataset=<its key>"
        raise TmetError(
            f"dataset '{dataset.name}': file list {', '.join(dataset.x.file_lists)} is empty; fill it with one LFN "
            f"per line (e.g. dasgoclient -query='file {keys}', or scripts/das_file_lists.py)",
        )
    return files


def get_dataset(config, name):
    """The dataset ``name`` of ``config``; an unknown name lists the valid ones."""
    if not config.has_dataset(name):
        raise unknown_name_error("dataset", name, config.datasets.names())
    return config.get_dataset(name)
