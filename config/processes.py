"""Physics processes of the top + MET analysis with their 13 TeV cross sections.

Processes are analysis-independent physics, shared by every config. Cross sections are
``scinum.Number``s whose named uncertainties become the datacard's ``xsec_<process>``
lnN nuisances; a dataset-level child process (``tt_sl``) derives its cross section from
its parent times a branching fraction, so that the uncertainties scale with it.
"""

import order as od
from scinum import Number

ECM = 13
ECM_RUN3 = 13.6

# W -> l nu (l = e, mu, tau) and W -> hadrons branching fractions (PDG)
BR_W_LEP = 3 * 0.1086
BR_W_HAD = 1 - BR_W_LEP
BR_TT = {
    "sl": 2 * BR_W_LEP * BR_W_HAD,
    "dl": BR_W_LEP ** 2,
    "fh": BR_W_HAD ** 2,
}


def _xsec(value, **uncertainties):
    return {ECM: Number(value, uncertainties)}


# top-level processes: the ones the datacard shows; ids are stable, colors for plots
data = od.Process("data", 1, is_data=True, label="Data", color=(0, 0, 0))

tt = od.Process(
    "tt", 100, label=r"$t\bar{t}$", color=(205, 0, 9),
    # NNLO+NNLL, m_top = 172.5 GeV, at 13 and 13.6 TeV
    xsecs={
        ECM: Number(831.76, {"scale": (19.77, 29.20), "pdf": 35.06}),
        ECM_RUN3: Number(923.6, {"scale": (22.6, 33.4), "pdf": 22.8}),
    },
)
for _i, (_channel, _br) in enumerate(BR_TT.items(), start=1):
    tt.add_process(
        f"tt_{_channel}", 100 + _i, label=rf"$t\bar{{t}}$ ({_channel})",
        xsecs={ecm: xsec * _br for ecm, xsec in tt.xsecs.items()},
    )

st = od.Process("st", 200, label="single t", color=(255, 153, 0))
# NLO, t-channel top + antitop (4FS), tW top + antitop (approx. NNLO)
st_t = st.add_process("st_t", 201, label="single t (t-ch.)", xsecs=_xsec(216.99, scale=(6.62, 4.64), pdf=6.70))
st_t.add_process("st_t_top", 211, xsecs=_xsec(136.02, scale=(4.09, 2.92), pdf=3.52))
st_t.add_process("st_t_antitop", 212, xsecs=_xsec(80.95, scale=(2.53, 1.71), pdf=3.18))
st_tw = st.add_process("st_tw", 202, label="tW", xsecs=_xsec(71.7, scale=1.80, pdf=3.40))
st_tw.add_process("st_tw_top", 221, xsecs=_xsec(35.85, scale=0.90, pdf=1.70))
st_tw.add_process("st_tw_antitop", 222, xsecs=_xsec(35.85, scale=0.90, pdf=1.70))

wjets = od.Process(
    "wjets", 300, label=r"W$\to\ell\nu$+jets", color=(51, 153, 51),
    # NNLO, W -> l nu summed over lepton flavours
    xsecs=_xsec(61526.7, scale=(497.1, 264.6), pdf=2312.7),
)

znunu = od.Process(
    "znunu", 400, label=r"Z$\to\nu\nu$+jets", color=(102, 153, 255),
    # NNLO Z -> ll per flavour (2025.74 pb) times BR(Z->nunu) / BR(Z->ll)
    xsecs=_xsec(12036.0, scale=(52.0, 60.0), pdf=451.0),
)

# real campaigns have no inclusive Z -> nu nu sample: HT-binned LO cross sections (XSDB, 2016
# values, no k-factor) of the madgraph ZJetsToNuNu_HT-* datasets
for _i, (_bin, _value) in enumerate([
    ("100to200", 280.35), ("200to400", 77.67), ("400to600", 10.73), ("600to800", 2.559),
    ("800to1200", 1.1796), ("1200to2500", 0.28833), ("2500toinf", 0.006945),
], start=1):
    znunu.add_process(f"znunu_ht{_bin}", 400 + _i, xsecs=_xsec(_value))

ttv = od.Process("ttv", 500, label=r"$t\bar{t}V$", color=(153, 51, 204))
# NLO, ttZ(-> nu nu) and ttW(-> l nu)
ttv.add_process("ttz", 501, label=r"$t\bar{t}Z(\nu\nu)$", xsecs=_xsec(0.2432, scale=(0.0277, 0.0290), pdf=0.0073))
ttv.add_process("ttw", 502, label=r"$t\bar{t}W$", xsecs=_xsec(0.2043, scale=(0.0262, 0.0231), pdf=0.0051))

# signal: pseudoscalar mediator, m_chi = 1 GeV, couplings 1. ILLUSTRATIVE cross sections of
# the synthetic campaign, not a theory prediction: replace with the model's values.
signal = od.Process("signal", 1000, label="t/tt+DM (ps)", color=(0, 0, 0))
for _i, (_mass, _value) in enumerate([(100, 0.60), (500, 0.070), (1000, 0.0060)], start=1):
    signal.add_process(
        f"tdm_ps_m{_mass}", 1000 + _i, label=f"ps m={_mass} GeV", color=(0, 0, 0),
        xsecs=_xsec(_value, scale=0.2 * _value), aux={"mediator_mass": _mass},
    )

backgrounds = [tt, st, wjets, znunu, ttv]
signals = list(signal.processes)


def attach_processes(config):
    """Add the analysis processes to ``config`` and remember the top-level MC ones."""
    for process in [data] + backgrounds + [signal]:
        config.add_process(process)
    config.x.mc_processes = backgrounds + signals
    config.x.background_processes = backgrounds
    config.x.signal_processes = signals


def process_index(config):
    """Name -> process of every process (and sub-process) that datasets may name."""
    index = {}
    for process in config.processes:
        index[process.name] = process
        for child, _, _ in process.walk_processes():
            index[child.name] = child
    return index


def process_xsec(process, ecm):
    """The cross section of ``process``, or the sum over its sub-processes where it has none;
    None where one is missing at ``ecm`` (no dataset of it can then be normalised)."""
    if ecm in process.xsecs:
        return process.get_xsec(ecm)
    if not process.processes:
        return None
    children = [process_xsec(child, ecm) for child in process.processes]
    return None if None in children else sum(children[1:], children[0])


def top_level_process(config, dataset):
    """The process a dataset enters the datacard as: the top-level MC process (tt, st, ..., a
    signal point) it belongs to, or its data process."""
    process = dataset.processes.get_first()
    for candidate in config.x.mc_processes + [p for p in config.processes if p.is_data]:
        if candidate == process or candidate.has_process(process, deep=True):
            return candidate
    return process


def datasets_of(config, processes):
    """The MC datasets whose top-level process is one of ``processes``."""
    names = {process.name for process in processes}
    return [dataset for dataset in config.datasets
            if not dataset.is_data and top_level_process(config, dataset).name in names]


def present_processes(config, datasets=None):
    """(backgrounds, signals, data) names, in config order, of the processes of ``datasets``
    (names; default: every dataset of the config)."""
    datasets = config.datasets if datasets is None else [config.get_dataset(name) for name in datasets]
    present = {top_level_process(config, dataset).name for dataset in datasets}
    return ([p.name for p in config.x.background_processes if p.name in present],
            [p.name for p in config.x.signal_processes if p.name in present],
            [p.name for p in config.processes if p.is_data and p.name in present])


def card_sets(config, signals=None):
    """{card set: signals}: a set of cards per signal point, or all signals together ("all");
    ``signals``: the signal processes present (default: those with datasets)."""
    signals = present_processes(config)[1] if signals is None else signals
    if config.x.datacard_signal_mode == "all":
        return {"all": signals}
    return {name: [name] for name in signals}
