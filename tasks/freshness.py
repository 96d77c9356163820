"""When a task's outputs can be trusted: the completeness check of every tmet task.

law calls a task complete when its outputs exist. tmet asks that every requirement be
complete and that every output be the one its provenance record (``tasks.provenance``)
describes, made from the config values, code, software and inputs the task would use now;
so a changed config value, kernel or input makes exactly what depends on it out of date.
A workflow is complete when all its branches are.

One ``FreshnessCheck`` walks the graph below a task once, remembering each task's answer
and record; luigi's ``complete()`` of every task starts a new one, so nothing is remembered
between checks. luigi's own check of a task's requirements as it starts (a ``complete()``
of each, walking the graph below them again) is off (law.cfg): ``trusted_run`` checks each
requirement's own outputs instead (``not_ready``).

``trusted_run`` is the decorator of every task's ``run``: outputs locked, remade only if
still out of date, written under temporary names and renamed into place, then recorded.
"""

import contextlib

import law
import luigi
from luigi.task import flatten

from analysis.errors import TmetError
from tasks import provenance
from tasks.store import atomic_write, flat_targets, location, output_lock, remove_temporaries


class FreshnessCheck:

    def __init__(self):
        self.answers, self.records, self.digests = {}, {}, {}

    def complete(self, task):
        """Requirements complete and every output up to date (workflows: every branch)."""
        if task.task_id not in self.answers:
            if isinstance(task, law.BaseWorkflow) and task.is_workflow():
                answer = self.requirements_complete(task) and all(
                    self.complete(b) for b in task.get_branch_tasks().values())
            else:
                # outputs first: where they are missing (a first run) the graph below is not walked
                answer = task.outputs_exist() and self.requirements_complete(task) and not self.stale_outputs(task)
            self.answers[task.task_id] = answer
        return self.answers[task.task_id]

    def requirements_complete(self, task):
        return all(self.complete(dep) for dep in flatten(task.requires()))

    def not_ready(self, task):
        """Why ``task``'s outputs cannot be used now ([] where they can): the check of a
        requirement (a branch or a plain task, never a workflow) as its dependent starts to
        run (tasks.provenance.trusted_run). The graph below it is not walked again: the run
        was scheduled after that walk, and a change made since then to an input of the
        requirement shows in the requirement's own record (the input digests)."""
        missing = [location(t) for t in flat_targets(task.output()) if not t.exists()]
        if missing:
            return [f"missing {', '.join(missing)}"]
        return self.all_reasons(task)

    def current_record(self, task):
        if task.task_id not in self.records:
            self.records[task.task_id] = provenance.current_record(task, self.input_digest)
        return self.records[task.task_id]

    def input_digest(self, target):
        key = target.uri()
        if key not in self.digests:
            self.digests[key] = provenance.input_digest(target)
        return self.digests[key]

    def reasons(self, task):
        """{output key: why it is out of date} ([None] as key for a single output)."""
        outputs = task.output()
        items = outputs.items() if isinstance(outputs, dict) else [(None, outputs)]
        current = self.current_record(task)
        reasons = {}
        for key, struct in items:
            found = sorted({r for target in flat_targets(struct) for r in provenance.output_reasons(target, current)})
            if found:
                reasons[key] = found
        return reasons

    def all_reasons(self, task):
        """Every reason of ``reasons``, once each, sorted."""
        return sorted({r for found in self.reasons(task).values() for r in found})

    def stale_outputs(self, task):
        """Keys of the outputs (a dict) or [None] (one output) that are out of date."""
        return list(self.reasons(task))


def out_of_date(task):
    """Why ``task`` is out of date although all its outputs exist ([] where it is not, for
    ``--print-status``). A workflow is skipped: its repr is used while its proxy is set up."""
    if isinstance(task, law.BaseWorkflow) and task.is_workflow():
        return []
    targets = flat_targets(task.output())
    if not targets or not all(t.exists() for t in targets):
        return []
    check = FreshnessCheck()
    if check.complete(task):
        return []
    return check.all_reasons(task) or ["upstream"]


def status_requested():
    """Whether the running ``law run`` prints task status (``--print-status``)."""
    parser = luigi.cmdline_parser.CmdlineParser.get_instance()
    return bool(parser and getattr(parser.known_args, "print_status", None))


@law.decorator.factory(accept_generator=False)
def trusted_run(fn, opts, task, *args, **kwargs):
    """Run ``fn`` (a task's run) with its outputs locked; if another run made them meanwhile,
    do nothing; if a requirement is no longer complete (FreshnessCheck.not_ready), fail
    naming it; otherwise remove a killed run's temporary files, give ``fn`` temporary
    targets (``task.output()``; ``task.outdated_outputs`` holds the keys of the outputs that
    are out of date), rename what it wrote into place and record it."""
    outputs = task.output()
    targets = flat_targets(outputs)
    if not targets:  # nothing to write (a task that can only fail, e.g. without a signal)
        return fn(task, *args, **kwargs)
    with contextlib.ExitStack() as locks:
        for target in sorted(targets, key=lambda t: t.uri()):
            locks.enter_context(output_lock(target))
        check = FreshnessCheck()
        current = check.current_record(task)
        outdated = check.stale_outputs(task)
        if not outdated:
            task.publish_message("up to date: made meanwhile by another run")
            return None
        for dep in flatten(task.requires()):
            reasons = check.not_ready(dep)
            if reasons:
                raise TmetError(f"{task.task_family} cannot run: its requirement {dep!r} is not complete "
                                f"({'; '.join(reasons)}), changed since this run was scheduled (by another run?); "
                                f"run again to remake it")
        for target in targets:
            remove_temporaries(target)
            remove_temporaries(provenance.record_target(target))
        with contextlib.ExitStack() as writes:
            written = {}

            def temporary(target):
                tmp, state = writes.enter_context(atomic_write(target, in_place=task.writes_in_place()))
                written[target] = state
                return tmp

            localized = law.util.map_struct(temporary, outputs)
            task.output, task.outdated_outputs = (lambda: localized), outdated
            try:
                result = fn(task, *args, **kwargs)
            finally:
                del task.output, task.outdated_outputs
        for target, state in written.items():
            if state["written"]:
                provenance.write_record(target, current)
        unwritten = [t for key in outdated for t in flat_targets(outputs[key] if key is not None else outputs)
                     if not written[t]["written"]]
        if unwritten:
            raise TmetError(f"{task.task_family} ended without writing {', '.join(t.uri() for t in unwritten)}")
    return result
