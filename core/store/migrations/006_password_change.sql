-- One-time passwords: a user whose password was set by someone else (the demo, an admin's
-- reset) must choose a new one at the next login. Nullable with a default because DuckDB
-- cannot add a NOT NULL column to a table other tables reference; code reads NULL as FALSE.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN DEFAULT FALSE;
