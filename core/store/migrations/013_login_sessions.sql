-- Logins that survive a reload: the browser keeps a random token in a cookie, the store only
-- its SHA-256. A session ends when its user logs out (revoked_at), after 12 h without use
-- (last_seen_at, checked in core/login_sessions.py), or when the user is deactivated or their
-- password is set (core/auth.py revokes every session of the user in the same transaction).
-- No foreign key to users: DuckDB refuses some later changes to a table others reference.
CREATE TABLE login_sessions (
    token_sha256 VARCHAR PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP
);
