"""The app server's process-wide objects: one store handle and one job runner per store file,
the once-per-process start of the demo training, and the one-time setup token that lets the
first administrator be created in the browser.

They live here, at module level behind a lock, and not in Streamlit's ``st.cache_resource``:
any browser, logged in or not, can send Streamlit's ``clear_cache`` message, which empties that
cache for every session. A second store handle and a second runner would follow, and the
runner's one-job-per-kind rule would then hold per runner, not per process. Nothing a client
sends reaches this module. A store that cannot be opened (another process holds it) is not
kept, so the next run tries again.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.cleanup import remove_stale_temporaries
from core.jobs import JobRunner
from core.store import Store
from core.store.connection import default_db_path

log = logging.getLogger(__name__)


@dataclass
class ServerObjects:
    """What the server process shares between all sessions for one store file."""

    store: Store
    runner: JobRunner
    _started: dict[str, threading.Thread | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _setup_token_sha256: str | None = None

    def once(self, name: str, start: Callable[[], threading.Thread | None]
             ) -> threading.Thread | None:
        """Call ``start`` the first time ``name`` is asked for in this process; afterwards
        return what it returned then."""
        with self._lock:
            if name not in self._started:
                self._started[name] = start()
            return self._started[name]

    def announce_setup_token(self) -> None:
        """On a store without accounts: print, once per process and only in the server's
        terminal, a random token that whoever started the server types into the page to
        create the first administrator. Only its SHA-256 is kept."""
        with self._lock:
            if self._setup_token_sha256 is not None:
                return
            token = secrets.token_urlsafe(16)
            self._setup_token_sha256 = hashlib.sha256(token.encode()).hexdigest()
        print(f"SonoCase: the store {self.store.path} has no accounts. Create the first "
              "administrator with `python -m core user add NAME --role admin` (app stopped), "
              f"or in the browser with this one-time setup token: {token}",
              file=sys.stderr, flush=True)

    def setup_token_matches(self, typed: str) -> bool:
        """Whether ``typed`` is the token :meth:`announce_setup_token` printed (it needs no
        spending: once an account exists, ``auth.create_first_admin`` refuses any other)."""
        digest = hashlib.sha256(typed.strip().encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            expected = self._setup_token_sha256
        return expected is not None and secrets.compare_digest(digest, expected)


_lock = threading.Lock()
_held: dict[Path, ServerObjects] = {}


def server_objects(path: str | Path | None = None) -> ServerObjects:
    """The process's objects for the store at ``path`` (default ``$SONOCASE_DB``), made on
    first use: opening the store removes the temporaries killed processes left, and creating
    the runner marks jobs a killed process left running failed. Raises ``StoreLocked`` when
    another process holds the store (nothing is kept then)."""
    key = Path(path or default_db_path()).resolve()
    with _lock:
        held = _held.get(key)
        if held is None:
            store = Store(key)
            try:
                removed = remove_stale_temporaries(store)
                if removed:
                    log.info("removed %d stale temporary file(s) or folder(s)", len(removed))
                held = ServerObjects(store, JobRunner(store))
            except BaseException:
                store.close()
                raise
            _held[key] = held
        return held


def release_all() -> None:
    """Close every held store and forget the objects (tests and benchmarks that serve several
    stores in one process; the server itself never calls it)."""
    with _lock:
        for held in _held.values():
            held.store.close()
        _held.clear()
