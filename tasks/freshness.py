"""When a task's outputs can be trusted: the completeness check of every tmet task.

law calls a task complete when its outputs exist. tmet also asks that every requirement
be complete and that no output be older than an input, so that a remade or deleted
upstream output makes everything downstream of it out of date, and nothing else.

One ``FreshnessCheck`` walks the graph below a task once, remembering each task's answer,
so checking a large graph costs one stat per target; luigi's ``complete()`` of every task
starts a new one, so nothing is remembered between checks.
"""

import law
import luigi
from luigi.task import flatten

from tasks.store import flat_targets


class FreshnessCheck:

    def __init__(self):
        self.answers = {}

    def complete(self, task):
        """Outputs exist, every requirement is complete and no output is older than an input."""
        if task.task_id not in self.answers:
            self.answers[task.task_id] = (task.outputs_exist()
                                          and all(self.complete(dep) for dep in flatten(task.requires()))
                                          and not self.stale_outputs(task))
        return self.answers[task.task_id]

    def stale_outputs(self, task):
        """Keys of the outputs (a dict) or [None] (one output) that are missing or older than an input."""
        inputs = flat_targets(task.input())
        missing = [t for t in inputs if not t.exists()]
        newest = None if missing or not inputs else max(mtime(t) for t in inputs)
        outputs = task.output()
        items = outputs.items() if isinstance(outputs, dict) else [(None, outputs)]
        stale = []
        for key, struct in items:
            targets = flat_targets(struct)
            if missing or not all(t.exists() for t in targets) or (
                    newest is not None and min(mtime(t) for t in targets) < newest):
                stale.append(key)
        return stale


def mtime(target):
    return target.stat().st_mtime


def out_of_date(task):
    """Whether ``task`` has outputs, they all exist, but it is not complete (for ``--print-status``).

    A workflow is skipped: its repr is used while its proxy is being set up.
    """
    if isinstance(task, law.BaseWorkflow) and task.is_workflow():
        return False
    targets = flat_targets(task.output())
    return bool(targets) and all(t.exists() for t in targets) and not task.complete()


def status_requested():
    """Whether the running ``law run`` prints task status (``--print-status``)."""
    parser = luigi.cmdline_parser.CmdlineParser.get_instance()
    return bool(parser and getattr(parser.known_args, "print_status", None))
