"""tmet from Python, for a notebook: run tasks through law in this process, watch them, read
their outputs, and change config values for the runs inside a context.

    from tasks import interactive as tmet
    tmet.connect("tcp://localhost:8786")        # or tmet.connect(): a LocalCluster here
    done = tmet.run(tmet.task("Yields", version="nb"), tmet.task("Plots", version="nb"))
    tmet.yields("nb")                           # pandas DataFrame, processes x categories
    with tmet.overrides(cuts={"sr_0l": ["met > 300", ...]}):
        tmet.run(tmet.task("Plots", version="nb"))  # only Histograms and what reads them

It is law's graph and luigi's scheduler, not a second task system: ``run`` is ``luigi.build``
with the tasks' own completeness checks (tasks.freshness), so an override that changes what
a task's outputs depend on reruns exactly the tasks that use it.
"""

import contextlib
import importlib
import os
import threading
from dataclasses import dataclass, field

import law
import luigi

from analysis.errors import TmetError
from analysis.physics.checks import check_skim_is_looser
from config.analysis import get_config
from tasks.progress import install as install_progress
from tasks.store import readable



def _import_task_modules():
    """The task modules of law.cfg, so that every task family is known in this process."""
    for module in law.config.options("modules"):
        importlib.import_module(module)


_import_task_modules()


def connect(address=None):
    """A dask.distributed Client of the cluster the heavy tasks of later runs use: the
    scheduler at ``address`` (the one the Dask labextension shows, e.g. tcp://localhost:8786),
    or, without one, a LocalCluster of this machine started now. Its dashboard link is
    ``client.dashboard_link``."""
    from dask.distributed import Client

    from analysis.runtime.cluster import scheduler_address

    os.environ["TMET_DASK_SCHEDULER"] = scheduler_address(address or "")
    return Client(os.environ["TMET_DASK_SCHEDULER"])


def task(family, **params):
    """The task ``family`` (e.g. "Plots") with ``params`` (Python values, e.g. version="nb")."""
    return luigi.task_register.Register.get_task_cls(family)(**params)


@dataclass
class Run:
    """What ``run`` did: ``ok``, and the tasks that ran (``ran``: "Family(param=value, ...)")."""

    ok: bool
    ran: list = field(default_factory=list)
    summary: str = ""

    def families(self):
        """{task family: how many of its tasks ran}."""
        out = {}
        for text in self.ran:
            family = text.split("(")[0]
            out[family] = out.get(family, 0) + 1
        return out


class _Watched:
    """luigi.build's ``worker_scheduler_factory``: luigi's own local scheduler and worker,
    the scheduler kept for ``run`` to watch."""

    scheduler = None

    def create_local_scheduler(self):
        self.scheduler = luigi.scheduler.Scheduler(prune_on_get_work=True, record_task_history=False)
        return self.scheduler

    def create_remote_scheduler(self, url):
        raise TmetError(f"tmet runs with a local luigi scheduler (law.cfg), not {url}")

    def create_worker(self, scheduler, worker_processes, assistant=False):
        return luigi.worker.Worker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)


def run(*tasks, workers=2, progress=print, interval=2.0):
    """Run ``tasks`` (from ``task``) and their requirements with ``workers`` luigi workers;
    ``progress(text)`` gets "N of M tasks done, K running, E events processed" whenever that
    changes (None: quiet; the events as in tasks.progress). Raises a TmetError naming the
    failed tasks if the run fails."""
    factory = _Watched()
    stop = threading.Event()
    counter = install_progress().events
    start_events = counter.value

    def events():
        return f"{counter.value - start_events:,} events processed"

    def watch():
        last = None
        while not stop.wait(interval):
            scheduler = factory.scheduler
            if scheduler is None:
                continue
            counts = {status: len(scheduler.task_list(status, "", limit=False)) for status in
                      ("DONE", "RUNNING", "PENDING", "FAILED")}
            text = (f"{counts['DONE']} of {sum(counts.values())} tasks done, {counts['RUNNING']} running"
                    + (f", {counts['FAILED']} failed" if counts["FAILED"] else "") + f", {events()}")
            if text != last and progress is not None:
                progress(text)
                last = text

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = luigi.build(list(tasks), workers=workers, local_scheduler=True, detailed_summary=True,
                             worker_scheduler_factory=factory, log_level="WARNING")
    finally:
        stop.set()
        watcher.join()
    done = factory.scheduler.task_list("DONE", "", limit=False)
    ran = sorted(_task_text(info) for info in done.values() if info.get("time_running") is not None)
    failed = factory.scheduler.task_list("FAILED", "", limit=False)
    if progress is not None:
        progress(f"{len(done)} of {len(done) + len(failed)} tasks done, {len(ran)} of them ran now, {events()}")
    if failed or not result.scheduling_succeeded:
        raise TmetError("the run failed: " + (", ".join(_task_text(info) for info in failed.values())
                                              or result.summary_text))
    return Run(True, ran, result.summary_text)


def progress_line(title="progress"):
    """A ``progress`` for ``run`` in a notebook: one Markdown line below the cell, updated in place."""
    from IPython.display import Markdown, display

    handle = display(Markdown(f"**{title}:** starting"), display_id=True)
    return lambda text: handle.update(Markdown(f"**{title}:** {text}"))


def _task_text(info):
    params = ", ".join(f"{k}={v}" for k, v in sorted(info["params"].items())
                       if k in ("dataset", "shift", "branch", "variables") and v not in ("-1", "()"))
    return f"{info['name']}({params})"


@contextlib.contextmanager
def overrides(config=None, cuts=None, values=None):
    """Config values changed for the runs inside: ``cuts`` {category: [cut, ...]} replace
    categories' cuts, ``values`` {aux key: value} replace the config's ``x`` values (e.g.
    "luminosity"). Restored on leaving. Outputs made inside are up to date only inside: a run
    after it remakes them with the config's own values. Cuts the skim would cut into (a
    category's MET below the skim's) are refused: lower the skim in ``values`` with them
    (``values={"skim": {...}}``), and the skims rerun inside."""
    config_inst = get_config(config or law.config.get_expanded("tmet", "default_config"))
    saved_categories = {}
    saved_values = {}
    try:
        for name, category_cuts in (cuts or {}).items():
            if not config_inst.has_category(name):
                raise TmetError(f"config '{config_inst.name}' has no category '{name}'; it has "
                                f"{', '.join(config_inst.categories.names())}")
            category = config_inst.get_category(name)
            saved_categories[name] = category.selection
            category.selection = list(category_cuts)
        for key, value in (values or {}).items():
            if not config_inst.has_aux(key):
                raise TmetError(f"config '{config_inst.name}' has no value '{key}'")
            saved_values[key] = config_inst.get_aux(key)
            config_inst.set_aux(key, value)
        check_skim_is_looser(config_inst)
        yield config_inst
    finally:
        for name, selection in saved_categories.items():
            config_inst.get_category(name).selection = selection
        for key, value in saved_values.items():
            config_inst.set_aux(key, value)


def yields(version, config=None, uncertainties=False):
    """The Yields table of ``version`` as a pandas DataFrame: a row per process (data_obs
    first, empty where a category shows no data), a column per category, the nominal yields
    (``uncertainties``: also a column "<category> ± syst" of the systematics added in
    quadrature, and "<category> ± stat")."""
    import pandas as pd

    table = task("Yields", version=version, **_config(config)).output()["json"].load(formatter="json")
    columns = {}
    for category, row in table.items():
        columns[category] = {p: n["nominal"] for p, n in row.items()}
        if uncertainties:
            row = {p: n for p, n in row.items() if n["nominal"] is not None}
            columns[f"{category} ± stat"] = {p: max(n["uncertainties"]["stat"]) for p, n in row.items()}
            columns[f"{category} ± syst"] = {
                p: sum(max(u) ** 2 for k, u in n["uncertainties"].items() if k != "stat") ** 0.5
                for p, n in row.items()}
    frame = pd.DataFrame(columns)
    order = ["data_obs"] + [p for p in frame.index if p != "data_obs"]
    return frame.loc[order]


def plot(version, category, name, variables=(), config=None, ext="png"):
    """The local path of the Plots output ``category``/``name`` (e.g. "sr_0l", "met") of
    ``version`` (of the Plots of ``variables``; default all), fetched first from a remote
    store, for IPython.display.Image."""
    params = {"variables": tuple(variables)} if variables else {}
    target = task("Plots", version=version, **params, **_config(config)).output()[f"{category}/{name}"][ext]
    if not target.exists():
        raise TmetError(f"no plot {category}/{name} of version {version}: run Plots first")
    if isinstance(target, law.LocalFileTarget):
        return target.abspath
    local = law.LocalFileTarget(is_tmp=ext)
    target.copy_to_local(local.abspath)
    return local.abspath


def histograms(dataset, version, shift="nominal", config=None):
    """{(category, variable): hist.Hist} of the Histograms output of ``dataset`` under ``shift``
    (weighted events, before lumi * xsec / sumw)."""
    import uproot

    target = task("Histograms", dataset=dataset, version=version, shift="all", **_config(config)).output()[shift]
    with readable(target) as path, uproot.open(path) as f:
        return {tuple(key.split(";")[0].split("/")): f[key].to_hist()
                for key, cls in f.classnames().items() if cls.startswith("TH1")}


def snapshot(dataset, version, shift="nominal", columns=None, config=None):
    """The Snapshot of ``dataset`` under ``shift`` as a pandas DataFrame (``columns``: those only)."""
    import uproot

    target = task("Snapshot", dataset=dataset, version=version, shift=shift, **_config(config)).output()
    with readable(target) as path, uproot.open(path) as f:
        return f["Events"].arrays(columns, library="pd")


def _config(config):
    return {"config": config} if config else {}

