"""Background jobs: progress in memory and in the table, cancel, failure, stale recovery."""
from __future__ import annotations

import threading

import pytest

from core.errors import UserError
from core.jobs import INTERRUPTED, JobRunner, mark_interrupted, recent_jobs

WAIT = 30


def _row(store, job_id):
    with store.read() as cur:
        return cur.execute("SELECT status, progress, message, finished_at FROM jobs"
                           " WHERE job_id = ?", [job_id]).fetchone()


def test_progress_is_seen_while_running_and_recorded_when_done(store):
    runner = JobRunner(store, write_interval=0)
    reported, release = threading.Event(), threading.Event()

    def work(progress, cancel):
        progress({"fraction": 0.25, "message": "epoch 1/4", "arch": "resnet50", "epoch": 1})
        reported.set()
        release.wait(WAIT)
        return ["resnet50-quick"]

    job_id = runner.start("train", {"archs": ["resnet50"]}, work)
    assert reported.wait(WAIT)
    running = runner.get(job_id)
    assert (running.status, running.fraction, running.message) == ("running", 0.25, "epoch 1/4")
    assert running.detail["arch"] == "resnet50"
    assert [job.job_id for job in runner.active()] == [job_id]
    assert _row(store, job_id)[:3] == ("running", 0.25, "epoch 1/4")
    release.set()
    done = runner.wait(job_id, WAIT)
    assert (done.status, done.fraction) == ("done", 1.0)
    assert runner.result(job_id) == ["resnet50-quick"]
    assert runner.active() == []
    status, fraction, _, finished = _row(store, job_id)
    assert (status, fraction) == ("done", 1.0) and finished is not None


def test_cancel_stops_the_job_and_is_recorded(store):
    runner = JobRunner(store)
    started = threading.Event()

    def work(progress, cancel):
        started.set()
        while not cancel.wait(0.01):
            progress({"fraction": 0.5, "message": "working"})

    job_id = runner.start("heatmaps", {}, work)
    assert started.wait(WAIT)
    assert runner.cancel(job_id)
    assert runner.wait(job_id, WAIT).status == "cancelled"
    assert _row(store, job_id)[0] == "cancelled"
    assert not runner.cancel(job_id)  # nothing left to cancel


def test_failure_is_recorded_with_its_message(store):
    runner = JobRunner(store)

    def work(progress, cancel):
        progress({"fraction": 0.1, "message": "loading"})
        raise RuntimeError("out of memory")

    job_id = runner.start("train", {}, work)
    failed = runner.wait(job_id, WAIT)
    assert failed.status == "failed" and "out of memory" in failed.message
    status, _, message, finished = _row(store, job_id)
    assert status == "failed" and "RuntimeError: out of memory" in message and finished


def test_a_second_job_of_the_same_kind_is_refused_while_one_runs(store):
    runner = JobRunner(store)
    release = threading.Event()
    first = runner.start("train", {}, lambda progress, cancel: release.wait(WAIT))
    with pytest.raises(UserError, match="already running"):
        runner.start("train", {}, lambda progress, cancel: None)
    other = runner.start("heatmaps", {}, lambda progress, cancel: None)
    assert runner.wait(other, WAIT).status == "done"
    release.set()
    assert runner.wait(first, WAIT).status == "done"
    second = runner.start("train", {}, lambda progress, cancel: None)
    assert runner.wait(second, WAIT).status == "done"


def test_jobs_left_running_by_a_killed_process_are_marked_failed(store):
    with store.transaction() as cur:
        cur.execute("INSERT INTO jobs (job_id, kind, status, progress, started_at) VALUES"
                    " ('old-1', 'train', 'running', 0.4, TIMESTAMP '2026-01-01 10:00:00'),"
                    " ('old-2', 'train', 'done', 1.0, TIMESTAMP '2026-01-01 09:00:00')")
    runner = JobRunner(store)
    assert runner.interrupted == 1
    status, fraction, message, finished = _row(store, "old-1")
    assert (status, fraction, message) == ("failed", 0.4, INTERRUPTED) and finished
    assert _row(store, "old-2")[0] == "done"
    assert mark_interrupted(store) == 0
    assert [job.job_id for job in recent_jobs(store)] == ["old-1", "old-2"]
