"""Long jobs (training, heatmap precompute) in worker threads of the one writer process.

A job is a function ``fn(progress, cancel)``: it reports with ``progress({"fraction": 0..1,
"message": ..., **anything})`` and stops early when the ``cancel`` event is set. The runner keeps
each job's state in memory (what the pages show) and mirrors it into the ``jobs`` table, so the
history survives a restart. A job still 'running' in the table when a runner starts was cut
short by a killed process: it is marked failed (interrupted).
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.auth import utcnow
from core.errors import UserError
from core.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
JobFn = Callable[[Progress, threading.Event], Any]
INTERRUPTED = "interrupted: the app stopped while this job ran"


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job. ``detail`` is the last progress report as the job sent it."""

    job_id: str
    kind: str
    params: dict
    status: str                      # queued, running, done, failed, cancelled
    fraction: float = 0.0
    message: str = ""
    detail: dict = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")


def mark_interrupted(store: Store, clock: Callable[[], datetime] = utcnow) -> int:
    """Mark jobs left queued or running by a process that died as failed; returns how many."""
    with store.transaction() as cur:
        stale = cur.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
                            ).fetchone()[0]
        cur.execute("UPDATE jobs SET status = 'failed', message = ?, finished_at = ?"
                    " WHERE status IN ('queued', 'running')", [INTERRUPTED, clock()])
    return stale


def recent_jobs(store: Store, limit: int = 20) -> list[JobStatus]:
    """The newest jobs in the table, from this process and earlier ones."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT job_id, kind, params, status, progress, coalesce(message, ''), started_at,"
            " finished_at FROM jobs ORDER BY started_at DESC NULLS LAST LIMIT ?",
            [limit]).fetchall()
    return [JobStatus(job_id, kind, json.loads(params) if params else {}, status, fraction,
                      message, {}, started, finished)
            for job_id, kind, params, status, fraction, message, started, finished in rows]


class JobRunner:
    """Runs jobs in threads of this process; one per process (the app keeps it cached)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow,
                 write_interval: float = 1.0) -> None:
        self.store = store
        self._clock = clock
        self._write_interval = write_interval
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._results: dict[str, Any] = {}
        self.interrupted = mark_interrupted(store, clock)

    def start(self, kind: str, params: dict, fn: JobFn) -> str:
        """Start ``fn`` in a worker thread; refused while a job of the same kind runs."""
        with self._lock:
            if any(job.kind == kind and job.running for job in self._jobs.values()):
                raise UserError(f"a {kind} job is already running: wait for it or cancel it")
            job_id = f"{kind}-{self._clock():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
            job = JobStatus(job_id, kind, dict(params), "running", 0.0, "starting",
                            started_at=self._clock())
            with self.store.transaction() as cur:
                cur.execute("INSERT INTO jobs (job_id, kind, params, status, progress, message,"
                            " started_at) VALUES (?, ?, ?, 'running', 0, ?, ?)",
                            [job_id, kind, json.dumps(params), job.message, job.started_at])
            self._jobs[job_id] = job
            self._cancels[job_id] = threading.Event()
            thread = threading.Thread(target=self._run, args=(job_id, fn), daemon=True,
                                      name=f"job-{job_id}")
            self._threads[job_id] = thread
        thread.start()
        return job_id

    def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop; False if it is not running here."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.running:
                return False
            self._cancels[job_id].set()
            self._jobs[job_id] = replace(job, cancel_requested=True, message="cancelling")
        return True

    def status(self) -> list[JobStatus]:
        """This process's jobs, running first, then newest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted(jobs, key=lambda j: (not j.running, -(j.started_at.timestamp())))

    def active(self) -> list[JobStatus]:
        return [job for job in self.status() if job.running]

    def get(self, job_id: str) -> JobStatus:
        with self._lock:
            if job_id not in self._jobs:
                raise UserError(f"no job {job_id!r} in this process")
            return self._jobs[job_id]

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job ends (or ``timeout``); returns its status."""
        self._threads[job_id].join(timeout)
        return self.get(job_id)

    def result(self, job_id: str) -> Any:
        """What the job's function returned (None until it is done)."""
        return self._results.get(job_id)

    def _update(self, job_id: str, **changes: Any) -> JobStatus:
        with self._lock:
            job = replace(self._jobs[job_id], **changes)
            self._jobs[job_id] = job
        return job

    def _write(self, job: JobStatus) -> None:
        with self.store.transaction() as cur:
            cur.execute("UPDATE jobs SET status = ?, progress = ?, message = ?, finished_at = ?"
                        " WHERE job_id = ?",
                        [job.status, job.fraction, job.message, job.finished_at, job.job_id])

    def _run(self, job_id: str, fn: JobFn) -> None:
        cancel = self._cancels[job_id]
        last_write = 0.0

        def progress(report: dict) -> None:
            nonlocal last_write
            fraction = min(1.0, max(0.0, float(report.get("fraction", 0.0))))
            message = str(report.get("message", ""))
            if cancel.is_set():
                message = f"cancelling ({message})" if message else "cancelling"
            job = self._update(job_id, fraction=fraction, message=message, detail=dict(report))
            if time.monotonic() - last_write >= self._write_interval:
                last_write = time.monotonic()
                self._write(job)

        try:
            result = fn(progress, cancel)
        except BaseException as error:  # a job's failure must never take the server down
            if cancel.is_set():
                final = {"status": "cancelled", "message": "cancelled"}
            else:
                log.exception("job %s failed", job_id)
                text = str(error) if isinstance(error, UserError) else (
                    f"{type(error).__name__}: {error}")
                final = {"status": "failed", "message": f"failed: {text}"}
        else:
            self._results[job_id] = result
            final = ({"status": "cancelled", "message": "cancelled"} if cancel.is_set()
                     else {"status": "done", "message": "done", "fraction": 1.0})
        job = self._update(job_id, finished_at=self._clock(), **final)
        try:
            self._write(job)
        except Exception:
            log.exception("could not record the end of job %s", job_id)
