-- Trained models, their predictions, heatmaps with localisation scores, background jobs.
CREATE TABLE models (
    model_id        VARCHAR PRIMARY KEY,      -- e.g. resnet50-quick-phantom-s0
    arch            VARCHAR NOT NULL,
    dataset         VARCHAR NOT NULL,
    init            VARCHAR NOT NULL,         -- imagenet or scratch (what was actually used)
    profile         VARCHAR NOT NULL,         -- quick or paper
    image_size      INTEGER NOT NULL,
    epochs          INTEGER,
    seed            INTEGER,
    seconds         DOUBLE,
    device          VARCHAR,
    threshold       DOUBLE,                   -- Youden threshold chosen without test rows
    cv_auc          DOUBLE,                   -- AUC on validation / out-of-fold predictions
    test_auc        DOUBLE,
    code_version    VARCHAR,
    checkpoint_path VARCHAR,                  -- relative to the data folder
    checkpoint_sha256 VARCHAR,
    config          JSON,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE predictions (
    model_id        VARCHAR NOT NULL,
    case_id         INTEGER NOT NULL,
    prob_malignant  DOUBLE NOT NULL,
    source          VARCHAR NOT NULL CHECK (source IN ('validation', 'test', 'train', 'other')),
    fold            INTEGER,
    PRIMARY KEY (model_id, case_id)
);

CREATE TABLE heatmaps (
    model_id        VARCHAR NOT NULL,
    case_id         INTEGER NOT NULL,
    method          VARCHAR NOT NULL,
    path            VARCHAR NOT NULL,         -- .npy float16 map, relative to the data folder
    sha256          VARCHAR NOT NULL,
    pointing_hit    BOOLEAN,                  -- map maximum inside the lesion mask (NULL: no mask)
    energy_inside   DOUBLE,                   -- share of the map's energy inside the lesion
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model_id, case_id, method)
);

CREATE TABLE jobs (
    job_id          VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,         -- train, heatmaps, import, demo
    params          JSON,
    status          VARCHAR NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress        DOUBLE NOT NULL DEFAULT 0,
    message         VARCHAR,
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP
);
