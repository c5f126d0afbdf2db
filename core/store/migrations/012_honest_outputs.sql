-- Only out-of-sample outputs reach a person (issue 13), and a read stores what was shown.
--
-- predictions.source says how the model that made the prediction relates to the case:
--   test         a test-split case: no model of this id ever saw it
--   validation   the training fold that chose the epoch and the threshold (quick profile)
--   out_of_fold  a training case predicted by a cross-fitted fold model that never saw it
--   in_sample    a training case predicted by a model that trained on it: never shown
--   held_out     a case outside the split (excluded, no split row): never trained on
-- The old 'train' rows were the final model's predictions of its own training cases
-- (in_sample); the old 'other' rows were cases outside the split (held_out). DuckDB cannot
-- change a CHECK constraint in place, so the table is rebuilt (nothing references it).
CREATE TABLE predictions_sourced (
    model_id        VARCHAR NOT NULL,
    case_id         INTEGER NOT NULL,
    prob_malignant  DOUBLE NOT NULL,
    source          VARCHAR NOT NULL CHECK (source IN ('test', 'validation', 'out_of_fold',
                                                       'in_sample', 'held_out')),
    fold            INTEGER,                  -- validation/out_of_fold: the held-out fold
    PRIMARY KEY (model_id, case_id)
);
INSERT INTO predictions_sourced
    SELECT model_id, case_id, prob_malignant,
           CASE source WHEN 'train' THEN 'in_sample' WHEN 'other' THEN 'held_out'
                ELSE source END,
           fold
    FROM predictions;
DROP TABLE predictions;
ALTER TABLE predictions_sourced RENAME TO predictions;

-- Cross-fitted fold models of a model (core.models.crossfit): fold k's model trained on the
-- other training folds and predicted fold k (source out_of_fold); its heatmaps of fold-k cases
-- are computed with this checkpoint. Replaced when the model is retrained.
CREATE TABLE crossfit_folds (
    model_id          VARCHAR NOT NULL,
    fold              INTEGER NOT NULL,
    checkpoint_path   VARCHAR NOT NULL,       -- relative to the data folder
    checkpoint_sha256 VARCHAR NOT NULL,
    epochs            INTEGER NOT NULL,
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model_id, fold)
);

-- Every training of a model id, append-only: retraining makes a new version, and reads and
-- reports made earlier keep the checkpoint and threshold they showed.
CREATE TABLE model_versions (
    model_id          VARCHAR NOT NULL,
    version           INTEGER NOT NULL,
    checkpoint_sha256 VARCHAR,
    threshold         DOUBLE,
    cv_auc            DOUBLE,
    test_auc          DOUBLE,
    config            JSON,
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model_id, version)
);
INSERT INTO model_versions (model_id, version, checkpoint_sha256, threshold, cv_auc, test_auc,
                            config, created_at)
    SELECT model_id, 1, checkpoint_sha256, threshold, cv_auc, test_auc, config, created_at
    FROM models;

-- What a read showed: the checkpoint that made the probability (a fold model's for an
-- out_of_fold output) and the cut-off it was judged at (ai_prob is the probability).
ALTER TABLE reads ADD COLUMN checkpoint_sha256 VARCHAR;
ALTER TABLE reads ADD COLUMN ai_threshold DOUBLE;
ALTER TABLE quiz_steps ADD COLUMN checkpoint_sha256 VARCHAR;
