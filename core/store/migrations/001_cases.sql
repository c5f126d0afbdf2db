-- Case library: datasets, cases (with masks and lexicon descriptors), splits and folds, users.
CREATE SEQUENCE case_id_seq START 1;
CREATE SEQUENCE user_id_seq START 1;

CREATE TABLE datasets (
    dataset      VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,            -- busi, busbra, csv, dicom, folder, phantom
    source       VARCHAR,                     -- where it was imported from (as given)
    params       JSON,                        -- importer / generator parameters
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE cases (
    case_id      INTEGER PRIMARY KEY DEFAULT nextval('case_id_seq'),
    dataset      VARCHAR NOT NULL,
    source_path  VARCHAR NOT NULL,            -- path inside the imported source
    image_path   VARCHAR NOT NULL,            -- stored grey PNG, relative to the data folder
    mask_path    VARCHAR,                     -- stored lesion mask PNG (merged), relative
    label        VARCHAR NOT NULL CHECK (label IN ('benign', 'malignant', 'normal')),
    histology    VARCHAR,
    birads_ref   VARCHAR CHECK (birads_ref IS NULL OR birads_ref IN ('1', '2', '3', '4A', '4B', '4C', '5', '6')),
    patient_id   VARCHAR,                     -- patient or group key from the source (hashed for DICOM)
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    sha256       VARCHAR NOT NULL,            -- of the stored pixels and the label (core.cases.library.case_sha256)
    phash        VARCHAR,                     -- perceptual hash for near-duplicate grouping
    descriptors  JSON,                        -- BI-RADS lexicon descriptors where known
    truth_prob   DOUBLE,                      -- generator's probability of malignancy (phantoms)
    attributes   JSON,                        -- anything else the source tells (device, side, annotations...)
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (dataset, sha256)
);

CREATE TABLE splits (
    case_id      INTEGER PRIMARY KEY,
    dataset      VARCHAR NOT NULL,
    split        VARCHAR NOT NULL CHECK (split IN ('train', 'test', 'excluded')),
    fold         INTEGER,                     -- cross-validation fold of a train case, else NULL
    group_id     VARCHAR NOT NULL,            -- patient / near-duplicate group
    seed         INTEGER NOT NULL,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE users (
    user_id      INTEGER PRIMARY KEY DEFAULT nextval('user_id_seq'),
    username     VARCHAR NOT NULL UNIQUE,
    display_name VARCHAR,
    password_hash VARCHAR NOT NULL,
    role         VARCHAR NOT NULL CHECK (role IN ('trainee', 'supervisor', 'admin')),
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Login attempts, append-only: lockout is derived from recent failures.
CREATE TABLE login_attempts (
    username     VARCHAR NOT NULL,
    success      BOOLEAN NOT NULL,
    attempted_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE settings (
    key          VARCHAR PRIMARY KEY,
    value        JSON NOT NULL
);
