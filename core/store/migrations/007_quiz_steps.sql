-- Quiz steps that store no read, append-only like reads: the step a case is at is derived from
-- its reads and these rows, so a reload, a second tab or the back button can never replay one.
--   ai     the unaided read was stored and the AI step was opened with model_id
--   no_ai  no model output for this case: the AI step is skipped, no aided read is stored
--   next   the truth was shown and the trainee moved on
--   end    the trainee ended the session at this case: the cases after it are dropped
CREATE TABLE quiz_steps (
    session_id      INTEGER NOT NULL REFERENCES quiz_sessions (session_id),
    case_id         INTEGER NOT NULL REFERENCES cases (case_id),
    step            VARCHAR NOT NULL CHECK (step IN ('ai', 'no_ai', 'next', 'end')),
    model_id        VARCHAR,                  -- ai: the model shown; no_ai: the one asked for
    ai_prob         DOUBLE,                   -- ai: the model's probability as shown (0-1)
    ai_threshold    DOUBLE,                   -- ai: the model's cut-off as shown
    note            VARCHAR,                  -- no_ai: why no model output was shown
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (session_id, case_id, step)
);
