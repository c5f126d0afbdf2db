"""The built-in demo: phantom cases, the study's 7:3 split, three accounts, quick training.

``build_demo`` runs on an empty store (``python -m core serve`` calls it before the app starts).
The accounts get random one-time passwords: they are returned to the caller to print once and
are never stored in clear or logged; each user must choose a new password at first login.
"""
from __future__ import annotations

from dataclasses import dataclass

from core import auth
from core.errors import UserError
from core.jobs import JobRunner
from core.store import Store

DEMO_DATASET = "phantom"
DEMO_CASES = 420
TEST_SIZE = 0.3
FOLDS = 5
CROSSFIT_FOLDS = 5             # the quiz model's cross-fitted fold models (core.models.crossfit)
FIRST_ARCH = "googlenet"       # the cheapest quick model that learns well from scratch:
                               # trained first so the quiz can start early (core.models.profiles)
DEMO_USERS = (
    ("demo_trainee", "trainee", "Demo trainee"),
    ("demo_supervisor", "supervisor", "Demo supervisor"),
    ("admin", "admin", "Administrator"),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str

    def __repr__(self) -> str:  # keeps the password out of logs and tracebacks
        return f"DemoAccount(username={self.username!r}, role={self.role!r})"


@dataclass(frozen=True)
class DemoAccounts:
    """What ``build_demo`` made; ``skipped`` names demo accounts that already existed."""

    dataset: str
    cases: int
    train: int
    test: int
    accounts: tuple[DemoAccount, ...]
    skipped: tuple[str, ...] = ()


def demo_needed(store: Store) -> bool:
    """True on a store without cases: the demo is built only there."""
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


def _split_counts(store: Store, dataset: str) -> tuple[int, int, int]:
    with store.read() as cur:
        cases = cur.execute("SELECT count(*) FROM cases WHERE dataset = ?",
                            [dataset]).fetchone()[0]
        counts = dict(cur.execute("SELECT split, count(*) FROM splits WHERE dataset = ?"
                                  " GROUP BY split", [dataset]).fetchall())
    return cases, counts.get("train", 0), counts.get("test", 0)


def build_demo(store: Store, seed: int = 0, n: int = DEMO_CASES) -> DemoAccounts:
    """Phantoms, split and accounts on an empty store; the accounts come last so that every
    password handed back belongs to a complete demo."""
    from core.cases.phantom import import_phantoms
    from core.splits import make_split

    if not demo_needed(store):
        raise UserError("the store already holds cases: the demo is built only on an empty "
                        "store (use --db PATH for a new one)")
    import_phantoms(store, n=n, seed=seed, dataset=DEMO_DATASET)
    make_split(store, DEMO_DATASET, test_size=TEST_SIZE, seed=seed, folds=FOLDS)
    existing = {account.username for account in auth.list_users(store)}
    accounts, skipped = [], []
    for username, role, display_name in DEMO_USERS:
        if username in existing:
            skipped.append(username)
            continue
        password = auth.one_time_password()
        auth.create_user(store, username, password, role, display_name,
                         must_change_password=True)
        accounts.append(DemoAccount(username, role, password))
    cases, train, test = _split_counts(store, DEMO_DATASET)
    return DemoAccounts(DEMO_DATASET, cases, train, test, tuple(accounts), tuple(skipped))


def training_order(archs: list[str] | tuple[str, ...]) -> list[str]:
    """The architectures with ``FIRST_ARCH`` first, the others in their given order."""
    return sorted(archs, key=lambda arch: arch != FIRST_ARCH)


def still_to_train(store: Store, dataset: str, archs: list[str], profile: str) -> list[str]:
    """Those of ``archs`` (in their order) without a ``profile`` model on ``dataset`` yet."""
    with store.read() as cur:
        trained = {arch for (arch,) in cur.execute(
            "SELECT DISTINCT arch FROM models WHERE dataset = ? AND profile = ?",
            [dataset, profile]).fetchall()}
    return [arch for arch in archs if arch not in trained]


def untrained_demo_archs(store: Store) -> list[str]:
    """The demo's architectures without a quick model yet, in training order."""
    from core.models.registry import ARCHS

    return still_to_train(store, DEMO_DATASET, training_order(list(ARCHS)), "quick")


def has_demo_dataset(store: Store) -> bool:
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM datasets WHERE dataset = ? AND kind = 'phantom'",
                           [DEMO_DATASET]).fetchone()[0] > 0


def quiz_model_to_crossfit(store: Store) -> str | None:
    """The quiz's model where it still shows no output for its own training cases (they are
    in-sample until its cross-fitted fold models exist), else None."""
    from core.shown_model import quiz_model

    model_id = quiz_model(store).model_id
    if model_id is None:
        return None
    with store.read() as cur:
        pending = cur.execute("SELECT count(*) FROM predictions WHERE model_id = ?"
                              " AND source = 'in_sample'", [model_id]).fetchone()[0]
    return model_id if pending else None


def start_demo_training(store: Store, runner: JobRunner) -> str | None:
    """Start quick training of the demo models still missing (GoogLeNet first) in the
    background, then the cross-fitted fold models of the quiz's model, so that the whole
    library can be practised with honest outputs; returns the job id, or None when there is no
    demo or nothing to do."""
    if not has_demo_dataset(store):
        return None
    archs = untrained_demo_archs(store)
    if not archs and quiz_model_to_crossfit(store) is None:
        return None
    parts = len(archs) + CROSSFIT_FOLDS   # a fold model costs about one model's training

    def train(progress, cancel):
        written = []
        if archs:
            from core.models.train import train_models

            def trained_part(report: dict) -> None:
                progress({**report, "fraction": report["fraction"] * len(archs) / parts})

            written = train_models(store, DEMO_DATASET, archs, profile="quick", device="auto",
                                   seed=0, progress=trained_part, cancel=cancel)
        model_id = quiz_model_to_crossfit(store)
        if model_id is not None:
            from core.models.crossfit import crossfit_model

            def crossfit_part(report: dict) -> None:
                progress({**report, "fraction": (len(archs) + report["fraction"]
                                                 * CROSSFIT_FOLDS) / parts})

            crossfit_model(store, model_id, CROSSFIT_FOLDS, progress=crossfit_part,
                           cancel=cancel)
        return written

    return runner.start("train", {"dataset": DEMO_DATASET, "archs": archs, "profile": "quick"},
                        train)
