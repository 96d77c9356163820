"""Synthetic NanoAOD of a synthetic dataset, written by the C++ of ``cpp/generator.cxx``.

MC files hold ``events_per_file`` events of their process's model; data files are a
mixture of the background models, each with Poisson(mixture / n_files) events, ``mixture``
being the data's generator setting: the expected events of each background dataset (set as
lumi * xsec * filter_efficiency), so data agrees with the MC prediction in expectation.
"""

import numpy as np

from analysis.engine import root_setup
from analysis.engine.dispatch import dispatch
from analysis.errors import TmetError
from config.processes import datasets_of

MODEL_FIELDS = (
    "neg_weight_fraction", "gen_weight", "met_min", "met_slope", "met_resolution",
    "lepton_pt_slope", "lepton_met_dphi", "fake_lepton_rate", "light_jets_mean", "jet_pt_slope",
    "jet_recoil_width", "top_pt_slope",
)
MULTIPLICITY_FIELDS = ("lepton_multiplicity", "b_multiplicity", "hadronic_tops")
# the NanoAOD layouts the generator writes (branch names and types of these versions)
LAYOUTS = (9, 12, 15)
# every file starts a new block of event numbers so that (run, lumi, event) stay unique
EVENTS_PER_FILE_BLOCK = 100_000_000


DATA_SETTINGS = {
    "mixture": ("a mapping of background datasets to expected events (numbers >= 0)",
                lambda v: isinstance(v, dict) and all(isinstance(k, str) and _number(n) and n >= 0 for k, n in v.items())),
}


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# every generator setting (generator_defaults and a dataset's generator: of a datasets YAML)
# and the check of its value
SETTINGS = {
    "files": ("a whole number >= 1", lambda v: _whole(v) and v >= 1),
    "events_per_file": ("a whole number >= 0", lambda v: _whole(v) and v >= 0),
    "seed": ("a whole number >= 0", lambda v: _whole(v) and v >= 0),
    "compression": ("a ROOT compression setting (e.g. 404; CMS writes NanoAOD with 209, LZMA 9)",
                    lambda v: _whole(v) and v >= 0),
    "nano_precision": ("true or false: floats rounded to NanoAOD's stored precision", lambda v: isinstance(v, bool)),
    "auto_flush": ("a whole number of entries >= 1", lambda v: _whole(v) and v >= 1),
    "filter_efficiency": ("a number in (0, 1]", lambda v: _number(v) and 0 < v <= 1),
    "nano_version": ("a NanoAOD version the generator writes (9, 12 or 15)", lambda v: v in LAYOUTS),
    **{field: ("a number", _number) for field in MODEL_FIELDS},
    **{field: ("three non-negative probabilities", lambda v: isinstance(v, list) and len(v) == 3
               and all(_number(p) and p >= 0 for p in v) and sum(v) > 0) for field in MULTIPLICITY_FIELDS},
}


def check_generator_settings(settings, where, is_data):
    """``settings``, checked by name and value: a misspelled or missing setting, or a value of
    the wrong kind, is an error naming ``where`` and the setting. Data also gives its
    ``mixture``: the expected events of each background dataset in the whole data sample."""
    known = {**SETTINGS, **(DATA_SETTINGS if is_data else {})}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TmetError(f"{where}: unknown generator setting(s) {unknown}; known: {', '.join(sorted(known))}")
    missing = sorted(set(known) - set(settings))
    if missing:
        raise TmetError(f"{where}: generator setting(s) {missing} missing (give them in generator_defaults)")
    for name, (kind, valid) in known.items():
        if not valid(settings[name]):
            raise TmetError(f"{where}: generator setting '{name}' must be {kind}, got {settings[name]!r}")
    return settings


def data_mixture(dataset, mc_datasets, n_files):
    """Expected events per file of each background dataset of ``mc_datasets`` in the data mixture."""
    mixture = dataset.x.generator["mixture"]
    missing = [d.name for d in mc_datasets if d.name not in mixture]
    if missing:
        raise TmetError(f"dataset '{dataset.name}': generator setting 'mixture' has no expected events of "
                        f"{', '.join(missing)}")
    if not mc_datasets:
        raise TmetError(f"dataset '{dataset.name}': no synthetic MC background datasets to mix into data")
    return [(d, mixture[d.name] / n_files) for d in mc_datasets]


def mixed_backgrounds(config, dataset):
    """The datasets the synthetic data ``dataset`` mixes: the config's synthetic datasets of
    its background processes (none for MC)."""
    if not dataset.is_data:
        return []
    return [d for d in datasets_of(config, config.x.background_processes) if d.x.synthetic]


def used_config(config, dataset):
    """The config values the files of the synthetic ``dataset`` depend on (data: those of the
    datasets it mixes too)."""
    values = {"generator": dataset.x.generator, "campaign": config.x.generator_campaign,
              "btag_working_point": modelled_btag_threshold(config)}
    if dataset.is_data:
        values["mixed"] = {d.name: d.x.generator for d in mixed_backgrounds(config, dataset)}
    return values


def modelled_btag_threshold(config):
    """The b-tag threshold the generator models its discriminant at: the campaign's medium
    working point, whichever one the analysis selects b jets at (a tighter one must not
    change the samples)."""
    return config.x.btag_working_points["M"]


def prepare():
    """ROOT with the generator compiled (ACLiC, cached in the build directory) and loaded."""
    return root_setup.compile("generator.cxx")


def generate_file(path, config, dataset, file_index, n_events=None, overrides=None, client=None):
    """Write file ``file_index`` of the synthetic ``dataset`` to ``path``; returns (events, sumw).

    ``n_events`` overrides ``events_per_file`` (MC) for benchmark-sized samples, as
    ``overrides`` does other generator settings (the benchmarks' NanoAOD compression and
    precision); data mixes the ``mixed_backgrounds``. ``client``: a Dask
    client, one of whose workers writes ``path`` (a URL of the store).
    """
    plan = sample_plan(config, dataset, file_index, n_events, overrides)
    (written,) = dispatch(client, write_sample, [(path, plan)], what=f"generating {path}")
    return written


def sample_plan(config, dataset, file_index, n_events=None, overrides=None):
    """What ``write_sample`` writes, as plain values (a Dask worker gets them, not the config)."""
    settings = check_generator_settings({**dataset.x.generator, **(overrides or {})},
                                        f"dataset '{dataset.name}'", dataset.is_data)
    values = config.x.generator_campaign
    seed = int(settings["seed"]) * 1_000_003 + file_index
    if dataset.is_data:
        rng = np.random.default_rng(seed)
        mixture = data_mixture(dataset, mixed_backgrounds(config, dataset), int(settings["files"]))
        # a requested size rescales the mixture, keeping its proportions
        scale = 1.0 if n_events is None else n_events / sum(e for _, e in mixture)
        models = [(model_fields(background.x.generator), int(rng.poisson(expected * scale)))
                  for background, expected in mixture]
    else:
        models = [(model_fields(settings), int(settings["events_per_file"] if n_events is None else n_events))]
    return {
        "campaign": {"pileup_mean": float(values["pileup_mc"]["mean"]), "pileup_sigma": float(values["pileup_mc"]["sigma"]),
                     "run_min": int(values["data_runs"][0]), "run_max": int(values["data_runs"][1]),
                     "btag_wp": float(modelled_btag_threshold(config))},
        "models": models, "is_data": bool(dataset.is_data), "seed": seed,
        "first_event": (file_index + 1) * EVENTS_PER_FILE_BLOCK, "compression": int(settings["compression"]),
        "auto_flush": int(settings["auto_flush"]), "nano_version": int(settings["nano_version"]),
        "nano_precision": bool(settings["nano_precision"]),
    }


def model_fields(settings):
    """{field: float or list of floats} of a process model's generator settings."""
    return {**{f: float(settings[f]) for f in MODEL_FIELDS},
            **{f: [float(v) for v in settings[f]] for f in MULTIPLICITY_FIELDS}}


def write_sample(setup, path, plan):
    """Write the file of ``plan`` (``sample_plan``) to ``path``; returns (events, sumw). It reads
    none of the client's files (``setup``, of analysis.engine.dispatch.dispatch: the worker
    compiles the generator itself); on a worker, the setup gave it the credentials."""
    del setup
    ROOT = prepare()
    campaign = ROOT.tmet.gen.GenCampaign()
    for field, value in plan["campaign"].items():
        setattr(campaign, field, value)
    models = ROOT.std.vector["tmet::gen::GenModel"]()
    counts = ROOT.std.vector["Long64_t"]()
    for fields, count in plan["models"]:
        model = ROOT.tmet.gen.GenModel()
        for field, value in fields.items():
            if isinstance(value, list):
                for i, v in enumerate(value):
                    getattr(model, field)[i] = v
            else:
                setattr(model, field, value)
        models.push_back(model)
        counts.push_back(count)
    result = ROOT.tmet.gen.write_file(
        str(path), models, counts, plan["is_data"], plan["seed"], plan["first_event"], campaign,
        plan["compression"], plan["auto_flush"], plan["nano_version"], plan["nano_precision"],
    )
    return result.n_events, result.sumw
