"""A progress line for ``law run``: tasks done of those the run has to do and the events
their event loops went through, every tenth of the tasks or half a minute, whichever comes
first (not a line per task).

luigi reports every task's status to its scheduler from the law process, and logs it
("Informed scheduler that task ... has status ..."): PENDING for each task that has to
run, then DONE or FAILED when its worker is through. ``ProgressLog`` is a logging handler
on luigi's logger that counts those records; installed once per law process (tasks.base),
before luigi forks the processes of its workers. The tasks run in those processes, so they
add the events of their loops (``count_events``) to a counter in shared memory the handler
made before the fork, which it reads when it writes a line. Each event loop counts the
events it read: GenerateSample those it wrote, Skim its input events, the tasks reading
skims (BTagEfficiency, Snapshot, Histograms) the skimmed events.
"""

import logging
import multiprocessing
import time

STATUS_MESSAGE = "Informed scheduler that task   %s   has status   %s"


class ProgressLog(logging.Handler):

    def __init__(self, interval=30.0):
        super().__init__(logging.INFO)
        self.pending, self.done, self.failed = set(), set(), set()
        self.interval, self.last_time, self.last_step = interval, time.monotonic(), 0
        self.events = multiprocessing.Value("Q", 0)

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
                "tmet: progress: %d of %d tasks done%s, %s events processed", len(self.done), len(self.pending),
                failed, f"{self.events.value:,}")


def _handler():
    return next((h for h in logging.getLogger("luigi-interface").handlers if isinstance(h, ProgressLog)), None)


def install():
    """The ProgressLog of luigi's logger of this process, added unless it has one."""
    handler = _handler()
    if handler is None:
        handler = ProgressLog()
        logging.getLogger("luigi-interface").addHandler(handler)
    return handler


def count_events(n):
    """Add ``n`` events to the progress of the run (none where no ProgressLog is installed:
    a task run outside law run and tmet.run)."""
    handler = _handler()
    if handler is not None:
        with handler.events.get_lock():
            handler.events.value += int(n)
