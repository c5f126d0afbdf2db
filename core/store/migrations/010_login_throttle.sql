-- Login throttling per client (a salted hash of the client's address; NULL from the command
-- line) and sessions that end when the password changes: password_set_at moves whenever a
-- password is set (by its user or an admin), and a session started before it is logged out.
ALTER TABLE login_attempts ADD COLUMN client VARCHAR;
ALTER TABLE users ADD COLUMN password_set_at TIMESTAMP;
