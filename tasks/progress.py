"""A progress line for ``law run``: tasks done of those the run has to do, every tenth of
them or half a minute, whichever comes first (not a line per task).

luigi reports every task's status to its scheduler from the law process, and logs it
("Informed scheduler that task ... has status ..."): PENDING for each task that has to
run, then DONE or FAILED when its worker is through. ``ProgressLog`` is a logging handler
on luigi's logger that counts those records; installed once per law process (tasks.base).
"""

import logging
import time

STATUS_MESSAGE = "Informed scheduler that task   %s   has status   %s"


class ProgressLog(logging.Handler):

    def __init__(self, interval=30.0):
        super().__init__(logging.INFO)
        self.pending, self.done, self.failed = set(), set(), set()
        self.interval, self.last_time, self.last_step = interval, time.monotonic(), 0

    def emit(self, record):
        if record.msg != STATUS_MESSAGE or len(record.args) != 2:
            return
        task_id, status = record.args
        if status == "PENDING":
            self.pending.add(task_id)
            return
        if task_id not in self.pending or status not in ("DONE", "FAILED"):
            return
        (self.done if status == "DONE" else self.failed).add(task_id)
        finished = len(self.done) + len(self.failed)
        step = 10 * finished // len(self.pending)
        if step > self.last_step or time.monotonic() - self.last_time > self.interval or finished == len(self.pending):
            self.last_step, self.last_time = step, time.monotonic()
            failed = f", {len(self.failed)} failed" if self.failed else ""
            logging.getLogger("luigi-interface").info(
                "tmet: progress: %d of %d tasks done%s", len(self.done), len(self.pending), failed)


def install():
    """Add a ProgressLog to luigi's logger of this process, unless it has one."""
    logger = logging.getLogger("luigi-interface")
    if not any(isinstance(h, ProgressLog) for h in logger.handlers):
        logger.addHandler(ProgressLog())
