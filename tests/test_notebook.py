"""notebooks/tmet_interactive.ipynb executed headless in this checkout's kernel ($TMET_KERNEL, setup.sh), on a
tiny synthetic sample: it shows the Yields JSON's numbers, inline images, and the rerun after
its cut change runs exactly the Histograms of every dataset, Yields and Plots."""

import ast
import json
import os
import re

import pytest
import uproot

from scripts.run_notebook import execute
from tests.conftest import REPO, tiny_law_env

DATASETS = ["tt_sl", "tdm_ps_m500", "data_met"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    base = tmp_path_factory.mktemp("notebook")
    env = tiny_law_env(base, DATASETS, events_per_file=1500, TMET_NOTEBOOK_VERSION="nb")
    env.pop("TMET_DASK_SCHEDULER", None)
    output = base / "executed.ipynb"
    nb = execute(os.path.join(REPO, "notebooks", "tmet_interactive.ipynb"), output, env=env, timeout=900)
    return nb, base


def outputs_of(nb, source_start):
    """The outputs of the code cell whose source starts with ``source_start``."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    return cell.outputs


def result_text(outputs):
    (text,) = [o["data"]["text/plain"] for o in outputs if o.get("output_type") == "execute_result"]
    return text


def displayed_table(text):
    """{row: [values]} and the header of a DataFrame's text as pandas prints it."""
    header, *rows = text.splitlines()
    return header, {row.split()[0]: [float(v) for v in row.split()[1:]] for row in rows}


def test_notebook_shows_the_yields_of_the_yields_json(executed):
    nb, base = executed
    table = json.loads((base / "store" / "Yields" / "run2_2018_synth" / "nb" / "yields.json").read_text())
    processes = sorted(next(iter(table.values())))
    header, before = displayed_table(result_text(outputs_of(nb, "yields_before = ")))
    categories = header.split()
    assert sorted(categories) == sorted(table) and sorted(before) == processes
    # the JSON is the rerun's, after sr_0l's cut changed: the other categories are as first displayed
    for process, values in before.items():
        for category, value in zip(categories, values):
            if category != "sr_0l":
                assert value == pytest.approx(table[category][process]["nominal"], abs=1e-3), (category, process)
    _, compared = displayed_table(result_text(outputs_of(nb, "fig, axes = ")))
    assert sorted(compared) == processes
    for process, (value_before, value_after) in compared.items():
        assert value_before == before[process][categories.index("sr_0l")]
        assert value_after == pytest.approx(table["sr_0l"][process]["nominal"], abs=1e-3), process
    # a harder MET cut keeps fewer events
    assert sum(v for p, (_, v) in compared.items() if p != "data_obs") < sum(
        v for p, (v, _) in compared.items() if p != "data_obs")


def entries(base, family, dataset):
    """Events in the Events trees of a dataset's outputs of ``family`` in the notebook's store."""
    files = sorted((base / "store" / family / "run2_2018_synth" / dataset / "nb").glob("*.root"))
    assert files, (family, dataset)
    return sum(uproot.open(f)["Events"].num_entries for f in files)


def test_notebook_reruns_exactly_what_reads_the_changed_cut(executed):
    nb, base = executed
    first = ast.literal_eval(result_text(outputs_of(nb, "wanted = ")))
    assert first["Histograms"] == len(DATASETS) and first["Yields"] == 1 and first["Plots"] == 1
    # a Skim of one file per dataset: its one branch (what reads the skims requires the
    # branches, not their workflow)
    assert first["Skim"] == len(DATASETS) and first["Snapshot"] == 1
    second = ast.literal_eval(result_text(outputs_of(nb, "old_cuts = ")))
    assert second == {"Histograms": len(DATASETS), "Yields": 1, "Plots": 1}
    # the progress lines, each the last state of its run
    lines = [o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if "text/markdown" in o.get("data", {})]
    # events: each loop's input events (generated = STEP 1's inputs; STEP 1's output = the
    # skims' inputs; the skims read by Histograms, by BTagEfficiency for MC and by the Snapshot
    # of tt_sl), counted in the store
    generated = {d: entries(base, "GenerateSample", d) for d in DATASETS}
    step1 = {d: entries(base, "TopCandidates", d) for d in DATASETS}
    skimmed = {d: entries(base, "Skim", d) for d in DATASETS}
    readers = {d: 1 + (d != "data_met") + (d == "tt_sl") for d in DATASETS}
    events = sum(2 * generated[d] + step1[d] + readers[d] * skimmed[d] for d in DATASETS)
    total = sum(first.values())
    assert lines[0] == f"**progress:** {total} of {total} tasks done, {total} of them ran now, {events:,} events processed"
    # the rerun's graph: what ran and the complete requirements it checked (skims, efficiencies);
    # only the Histograms read events
    assert re.fullmatch(rf"\*\*rerun:\*\* (\d+) of \1 tasks done, {sum(second.values())} of them ran now, "
                        rf"{sum(skimmed.values()):,} events processed", lines[1])
    assert len(lines) == 2


def test_notebook_holds_inline_images(executed):
    nb, _ = executed
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the stack plot, the Snapshot's histogram, before and after
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
