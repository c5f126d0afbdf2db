"""The results store: one DuckDB file, numbered migrations, one writer process."""
from core.store.connection import DB_ENV, Store, default_db_path
from core.store.migrations import latest_version, migrate, schema_version

__all__ = ["DB_ENV", "Store", "default_db_path", "latest_version", "migrate", "schema_version"]
