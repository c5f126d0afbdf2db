-- Quiz sessions, reads (append-only), reader studies.
CREATE SEQUENCE session_id_seq START 1;
CREATE SEQUENCE read_id_seq START 1;
CREATE SEQUENCE study_id_seq START 1;

CREATE TABLE reader_studies (
    study_id        INTEGER PRIMARY KEY DEFAULT nextval('study_id_seq'),
    name            VARCHAR NOT NULL,
    case_ids        JSON NOT NULL,            -- the case set
    washout_days    DOUBLE NOT NULL DEFAULT 14,
    model_id        VARCHAR,                  -- model shown in the aided phase
    created_by      INTEGER REFERENCES users (user_id),
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE study_readers (
    study_id        INTEGER NOT NULL REFERENCES reader_studies (study_id),
    user_id         INTEGER NOT NULL REFERENCES users (user_id),
    unaided_order   JSON NOT NULL,            -- case ids in this reader's own random order
    aided_order     JSON NOT NULL,            -- a new random order for the aided phase
    PRIMARY KEY (study_id, user_id)
);

CREATE TABLE quiz_sessions (
    session_id      INTEGER PRIMARY KEY DEFAULT nextval('session_id_seq'),
    user_id         INTEGER NOT NULL REFERENCES users (user_id),
    kind            VARCHAR NOT NULL CHECK (kind IN ('practice', 'study_unaided', 'study_aided')),
    practice_set    VARCHAR,                  -- all, test, missed, birads:4A, descriptor:margin=spiculated
    case_ids        JSON NOT NULL,            -- ordered
    model_id        VARCHAR,                  -- the model shown at the AI step
    study_id        INTEGER REFERENCES reader_studies (study_id),
    started_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Append-only: a read is never updated or deleted. The unique key refuses a second read of
-- the same case in the same mode within one session.
CREATE TABLE reads (
    read_id         INTEGER PRIMARY KEY DEFAULT nextval('read_id_seq'),
    session_id      INTEGER NOT NULL REFERENCES quiz_sessions (session_id),
    user_id         INTEGER NOT NULL REFERENCES users (user_id),
    case_id         INTEGER NOT NULL REFERENCES cases (case_id),
    mode            VARCHAR NOT NULL CHECK (mode IN ('unaided', 'aided')),
    birads          VARCHAR NOT NULL CHECK (birads IN ('2', '3', '4A', '4B', '4C', '5')),
    probability     DOUBLE NOT NULL CHECK (probability >= 0 AND probability <= 100),
    descriptors     JSON,
    seconds         DOUBLE CHECK (seconds IS NULL OR seconds >= 0),
    model_id        VARCHAR,                  -- model shown before an aided read
    ai_prob         DOUBLE,                   -- the model's probability as shown
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (session_id, case_id, mode)
);
