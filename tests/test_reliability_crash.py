"""Crashes: SIGKILL at random moments of quiz sessions (the app's writes, in threads of one
process, with a background job running), an import, a training run, a heatmap precompute, a
backup and a restore; then the store is reopened and its promises are checked: it opens, every
read whose submit returned is there, a read is wholly there or absent, no half checkpoint,
heatmap or bundle is ever used, and the work can be finished afterwards.

Each kill runs a small driver script (the same ``core`` functions the app and the commands
call) in a subprocess. The moments are random; the seed is in every failure message
(``SONOCASE_CRASH_SEED`` replays one).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from bench.load import answer_for
from core.backup import backup, list_backups, restore, table_summaries
from core.jobs import INTERRUPTED, JobRunner
from core.quiz import flow
from core.store import Store
from tests.quiz_helpers import add_model, make_cases, make_user

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("SONOCASE_CRASH_SEED") or random.SystemRandom().randrange(10**6))


@pytest.fixture
def rng(request) -> random.Random:
    """A generator per test, seeded from the run's seed and the test's name."""
    return random.Random(f"{SEED}-{request.node.name}")


def seed_note() -> str:
    return f"(replay with SONOCASE_CRASH_SEED={SEED})"


def kill_at(script: str, args: list[str], marker: str, count: int, delay: float,
            log: Path, timeout: float = 300) -> tuple[list[str], int]:
    """Run the driver ``script``; when ``marker`` has started ``count`` output lines, wait
    ``delay`` seconds and SIGKILL it. Returns every line it printed and its exit status."""
    with open(log, "a") as errors:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        lines, seen = [], 0
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith(marker):
                    seen += 1
                    if seen == count:
                        threading.Event().wait(delay)
                        proc.send_signal(signal.SIGKILL)
                        break
            lines += proc.stdout.read().splitlines()
            proc.wait()
        finally:
            watchdog.cancel()
    return lines, proc.returncode


def summaries(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_summaries(con, con.execute("SELECT current_database()").fetchone()[0])
    finally:
        con.close()


# ---- quiz sessions ---------------------------------------------------------------------------

QUIZ_DRIVER = """
    import sys, threading, time
    from bench.load import answer_for
    from core.jobs import JobRunner
    from core.quiz import flow
    from core.store import Store

    store = Store(sys.argv[1])
    users, length = [int(u) for u in sys.argv[2].split(",")], int(sys.argv[3])
    runner = JobRunner(store, write_interval=0.1)

    def background(progress, cancel):
        while not cancel.is_set():
            progress({"fraction": 0.5, "message": "busy"})
            time.sleep(0.02)

    runner.start("import", {"driver": "crash test"}, background)
    say_lock = threading.Lock()

    def say(*parts):
        with say_lock:
            print(*parts, flush=True)

    def trainee(user_id):
        session = (flow.unfinished_session(store, user_id)
                   or flow.start_session(store, user_id, "all", length, seed=user_id))
        view = flow.state(store, session, user_id)
        while not isinstance(view, flow.SummaryView):
            case_id = view.case_id
            if isinstance(view, flow.PresentView) or isinstance(view, flow.AIView):
                mode = "unaided" if isinstance(view, flow.PresentView) else "aided"
                birads, probability = answer_for(user_id, case_id, mode)
                submit = flow.submit_unaided if mode == "unaided" else flow.submit_aided
                view = submit(store, session, user_id, case_id, birads, probability)
                say("READ", session, user_id, case_id, mode, birads, probability)
            else:
                view = flow.advance(store, session, user_id, case_id)
                say("NEXT", session, user_id, case_id)

    threads = [threading.Thread(target=trainee, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    say("DONE")
"""

TRAINEES, LENGTH = 5, 10


def parse_reads(lines: list[str]) -> Counter:
    reads = Counter()
    for line in lines:
        if line.startswith("READ "):
            _, session, user, case, mode, birads, probability = line.split()
            reads[(int(session), int(user), int(case), mode, birads, float(probability))] += 1
    return reads


def check_quiz_invariants(store: Store, logged: Counter, note: str,
                          in_flight: int | None = TRAINEES) -> None:
    """Every logged read is stored once, as given; at most ``in_flight`` reads more (one per
    trainee: stored, not yet printed); each step row goes with the read of its transaction."""
    with store.read() as cur:
        stored = Counter(cur.execute("SELECT session_id, user_id, case_id, mode, birads,"
                                     " probability FROM reads").fetchall())
        orphans = cur.execute("""
            SELECT 'unaided read without its AI step', r.session_id, r.case_id FROM reads r
            WHERE r.mode = 'unaided' AND (SELECT count(*) FROM quiz_steps q
                WHERE q.session_id = r.session_id AND q.case_id = r.case_id
                AND q.step IN ('ai', 'no_ai')) <> 1
            UNION ALL
            SELECT 'AI step without its unaided read', q.session_id, q.case_id FROM quiz_steps q
            WHERE q.step IN ('ai', 'no_ai') AND NOT EXISTS (SELECT 1 FROM reads r
                WHERE r.session_id = q.session_id AND r.case_id = q.case_id
                AND r.mode = 'unaided')
            UNION ALL
            SELECT 'aided read without AI step', r.session_id, r.case_id FROM reads r
            WHERE r.mode = 'aided' AND NOT EXISTS (SELECT 1 FROM quiz_steps q
                WHERE q.session_id = r.session_id AND q.case_id = r.case_id AND q.step = 'ai')
            UNION ALL
            SELECT 'next step before the truth', q.session_id, q.case_id FROM quiz_steps q
            WHERE q.step = 'next' AND NOT EXISTS (SELECT 1 FROM reads r
                WHERE r.session_id = q.session_id AND r.case_id = q.case_id
                AND r.mode = 'unaided')
        """).fetchall()
    assert logged - stored == Counter(), f"submitted reads lost {note}"
    assert max(stored.values(), default=1) == 1, f"a read stored twice {note}"
    if in_flight is not None:
        assert sum((stored - logged).values()) <= in_flight, f"reads nobody submitted {note}"
    assert orphans == [], f"half a step stored {note}"


def finish_sessions(store: Store, users: list[int]) -> None:
    """What the restarted app does for each trainee: resume and answer to the end."""
    for user_id in users:
        session = flow.unfinished_session(store, user_id)
        while session is not None:
            view = flow.state(store, session, user_id)
            if isinstance(view, flow.SummaryView):
                break
            if isinstance(view, flow.TruthView):
                flow.advance(store, session, user_id, view.case_id)
                continue
            mode = "unaided" if isinstance(view, flow.PresentView) else "aided"
            submit = flow.submit_unaided if mode == "unaided" else flow.submit_aided
            submit(store, session, user_id, view.case_id,
                   *answer_for(user_id, view.case_id, mode))


def test_killed_quiz_sessions_lose_no_submitted_read(tmp_path, rng):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        case_ids = make_cases(store, n=LENGTH, size=32)
        add_model(store, "resnet50-crash", case_ids, heatmaps=False)
        users = [make_user(store, f"t{number}").user_id for number in range(TRAINEES)]
    logged = Counter()
    for attempt in range(2):
        count = rng.randint(3, 40)
        delay = rng.uniform(0, 0.2)
        note = f"after {count} reads + {delay:.3f} s, attempt {attempt} {seed_note()}"
        lines, status = kill_at(QUIZ_DRIVER, [str(path), ",".join(map(str, users)),
                                              str(LENGTH)],
                                "READ", count, delay, tmp_path / "driver.log")
        assert status == -signal.SIGKILL, f"{note}: {lines[-3:]}"
        logged += parse_reads(lines)
        with Store(path) as store:   # the restart: the store opens, the WAL is replayed
            check_quiz_invariants(store, logged, note)
            runner = JobRunner(store)
            assert runner.interrupted == 1, note
            with store.read() as cur:
                assert cur.execute("SELECT count(*) FROM jobs WHERE status = 'failed'"
                                   " AND message = ?", [INTERRUPTED]).fetchone()[0] \
                    == attempt + 1, note
    with Store(path) as store:
        finish_sessions(store, users)
        check_quiz_invariants(store, logged, "after the sessions were finished", None)
        with store.read() as cur:
            per_mode = dict(cur.execute("SELECT mode, count(*) FROM reads GROUP BY mode")
                            .fetchall())
    assert per_mode == {"unaided": TRAINEES * LENGTH, "aided": TRAINEES * LENGTH}


# ---- an import -------------------------------------------------------------------------------

IMPORT_DRIVER = """
    import sys
    from contextlib import contextmanager
    from core.cases.importers import import_cases
    from core.store import Store

    store = Store(sys.argv[1])
    opened = store.transaction

    @contextmanager
    def announced():
        print("TRANSACTION", flush=True)   # the one transaction that stores the rows
        with opened() as cur:
            yield cur

    store.transaction = announced
    print("START", flush=True)
    result = import_cases(store, "folder", sys.argv[2], "crash")
    print("DONE", result.imported, flush=True)
"""

IMAGES = 24


def image_folder(folder: Path, rng: random.Random) -> Path:
    generator = np.random.default_rng(rng.randrange(2**32))
    for index in range(IMAGES):
        label = "malignant" if index % 2 else "benign"
        (folder / label).mkdir(parents=True, exist_ok=True)
        pixels = generator.integers(0, 256, (96, 128), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / label / f"{index}.png")
    return folder


def check_import_invariants(store: Store, note: str) -> int:
    """All or nothing: no rows, or every image with its dataset row; files named are whole."""
    with store.read() as cur:
        cases = cur.execute("SELECT count(*) FROM cases").fetchone()[0]
        datasets = cur.execute("SELECT count(*) FROM datasets").fetchone()[0]
        paths = [p for (p,) in cur.execute("SELECT image_path FROM cases").fetchall()]
    assert cases in (0, IMAGES), f"{cases} of {IMAGES} cases stored {note}"
    assert datasets == (cases > 0), f"dataset row without its cases or back {note}"
    for relative in paths:
        with Image.open(store.resolve(relative)) as image:
            image.load()
    return cases


def test_a_killed_import_stores_all_or_nothing_and_can_be_rerun(tmp_path, rng):
    source = image_folder(tmp_path / "source", rng)
    path = tmp_path / "data" / "results.duckdb"
    Store(path).close()
    # one kill while the images are read, one at the one transaction (before, in or after it)
    for marker, delay in (("START", rng.uniform(0.0, 1.5)), ("TRANSACTION", rng.uniform(0, 0.08))):
        note = f"killed {delay:.3f} s after {marker} {seed_note()}"
        lines, status = kill_at(IMPORT_DRIVER, [str(path), str(source)], marker, 1, delay,
                                tmp_path / "driver.log")
        with Store(path) as store:
            stored = check_import_invariants(store, note)
        if status != -signal.SIGKILL:   # it finished before the kill
            assert lines[-1] == f"DONE {IMAGES}" or stored == IMAGES, note
    from core.cases.importers import import_cases

    with Store(path) as store:
        before = check_import_invariants(store, "before the rerun")
        rerun = import_cases(store, "folder", source, "crash")
        assert rerun.imported == IMAGES - before and rerun.skipped == []
        assert import_cases(store, "folder", source, "crash").imported == 0
        assert check_import_invariants(store, "after the rerun") == IMAGES


# ---- training and heatmaps -----------------------------------------------------------------

TRAIN_DRIVER = """
    import sys
    from core.models.train import train_models
    from core.store import Store

    store = Store(sys.argv[1])
    for round in range(20):
        train_models(store, "tiny", ["googlenet"], epochs=1, image_size=32, init="scratch",
                     device="cpu", progress=lambda report: print(report["message"], flush=True))
        print("SAVED", round, flush=True)
"""

HEATMAP_DRIVER = """
    import sys
    from core.heatmaps.compute import precompute_heatmaps
    from core.models.loading import load_model
    from core.store import Store

    store = Store(sys.argv[1])
    loaded = load_model(store, sys.argv[2])
    print("LOADED", flush=True)
    precompute_heatmaps(store, loaded, "all", "gradcam", 1,
                        progress=lambda report: print("MAP", report["done"], flush=True))
    print("DONE", flush=True)
"""


def check_models(store: Store, note: str) -> list[str]:
    """Every model row's checkpoint is whole (its SHA-256), loads, and has all predictions;
    every checkpoint file under its final name loads."""
    from core.models.checkpoints import load_checkpoint
    from core.models.loading import load_model

    with store.read() as cur:
        rows = cur.execute("SELECT model_id, (SELECT count(*) FROM predictions p"
                           " WHERE p.model_id = m.model_id) FROM models m").fetchall()
        expected = cur.execute("SELECT count(*) FROM cases WHERE label <> 'normal'"
                               ).fetchone()[0]
    for model_id, predictions in rows:
        assert predictions == expected, f"{model_id}: {predictions} predictions {note}"
        load_model(store, model_id)
    for checkpoint in (store.data_dir / "models").rglob("*.pt"):
        load_checkpoint(checkpoint)
    return [model_id for model_id, _ in rows]


def check_heatmaps(store: Store, model_id: str, note: str) -> int:
    from core.heatmaps.stored import cached_heatmap

    with store.read() as cur:
        cases = [c for (c,) in cur.execute("SELECT case_id FROM heatmaps WHERE model_id = ?",
                                           [model_id]).fetchall()]
    for case_id in cases:
        assert cached_heatmap(store, model_id, case_id) is not None, f"case {case_id} {note}"
    return len(cases)


def test_killed_training_and_heatmaps_leave_nothing_half_written(tmp_path, rng):
    """One store for the training run, one (with a model trained here) for the heatmaps; the
    two drivers run at once, each killed at its own moment."""
    from core.heatmaps.compute import precompute_heatmaps
    from core.models.loading import load_model
    from core.models.train import train_models
    from core.reads import shown_sql
    from tests.models_helpers import add_tiny_dataset

    training, mapping = (tmp_path / name / "results.duckdb" for name in ("train", "maps"))
    for path in (training, mapping):
        with Store(path) as store:
            add_tiny_dataset(store)
    with Store(mapping) as store:
        (model_id,) = train_models(store, "tiny", ["googlenet"], epochs=1, image_size=32,
                                   init="scratch", device="cpu")
        with store.read() as cur:  # maps are made only where the output may be shown
            shown = cur.execute(f"SELECT count(*) FROM predictions p WHERE {shown_sql()}"
                                " AND p.model_id = ?", [model_id]).fetchone()[0]
    assert 4 < shown < 12  # the quick model's own training cases get no map
    # training: killed while the second model's checkpoint is written or its rows replace
    # the first one's (or just after); heatmaps: killed after a random map
    train_delay, count = rng.uniform(0, 0.8), rng.randint(1, shown - 2)
    map_delay = rng.uniform(0, 0.3)
    train_note = f"training killed {train_delay:.3f} s into its second save {seed_note()}"
    map_note = f"heatmaps killed {map_delay:.3f} s after map {count} {seed_note()}"
    with ThreadPoolExecutor(2) as pool:
        trained = pool.submit(kill_at, TRAIN_DRIVER, [str(training)],
                              "googlenet (1/1): saving", 2, train_delay, tmp_path / "train.log")
        mapped = pool.submit(kill_at, HEATMAP_DRIVER, [str(mapping), model_id], "MAP", count,
                             map_delay, tmp_path / "maps.log")
        (lines, status), (_, map_status) = trained.result(), mapped.result()
    assert status == -signal.SIGKILL and "SAVED 0" in lines, train_note
    with Store(training) as store:
        assert len(check_models(store, train_note)) == 1
    with Store(mapping) as store:
        done = check_heatmaps(store, model_id, map_note)
        assert done >= count or map_status != -signal.SIGKILL, map_note
        result = precompute_heatmaps(store, load_model(store, model_id), "all", "gradcam", 4)
        assert result["computed"] + result["already_cached"] == shown, (result, map_note)
        assert check_heatmaps(store, model_id, "after the rerun") == shown


# ---- backup and restore ------------------------------------------------------------------------

BACKUP_DRIVER = """
    import sys
    from core.backup import backup
    from core.store import Store

    store = Store(sys.argv[1])
    backup(store, sys.argv[2], progress=lambda report: print("STEP", report["message"],
                                                            flush=True))
    print("DONE", flush=True)
"""

RESTORE_DRIVER = """
    import sys
    from core.backup import restore

    restore(sys.argv[1], sys.argv[2], progress=lambda report: print("STEP", report["message"],
                                                                   flush=True))
    print("DONE", flush=True)
"""


def test_a_killed_backup_or_restore_leaves_no_bundle_or_store_that_is_used(tmp_path, rng):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        case_ids = make_cases(store, n=60, size=48)
        add_model(store, "resnet50-backup", case_ids)
        make_user(store, "keeper")
    before = summaries(path)
    bundle = tmp_path / "data" / "backups" / "killed.zip"
    count, delay = rng.randint(1, 100), rng.uniform(0, 0.05)
    note = f"backup killed {delay:.3f} s after step {count} {seed_note()}"
    lines, status = kill_at(BACKUP_DRIVER, [str(path), str(bundle)], "STEP", count, delay,
                            tmp_path / "driver.log")
    assert summaries(path) == before, note
    with Store(path) as store:
        listed = list_backups(store)
        assert listed == ([bundle] if bundle.exists() else []), note
        if not bundle.exists():
            assert status == -signal.SIGKILL, note
            backup(store, bundle)
    target = tmp_path / "restored" / "results.duckdb"
    count, delay = rng.randint(1, 200), rng.uniform(0, 0.05)
    note = f"restore killed {delay:.3f} s after step {count} {seed_note()}"
    kill_at(RESTORE_DRIVER, [str(bundle), str(target)], "STEP", count, delay,
            tmp_path / "driver.log")
    if not target.exists():   # killed before the store moved in: the restore can be rerun
        restore(bundle, target)
    assert summaries(target) == before, note
    with Store(target) as restored, restored.read() as cur:
        files = [p for (p,) in cur.execute("SELECT image_path FROM cases UNION ALL"
                                           " SELECT path FROM heatmaps").fetchall()]
        assert all(restored.resolve(p).is_file() for p in files), note
