-- What part of each image a model reads (core.models.framing): 'lesion' (a square around the
-- lesion mask) or 'full' (the whole image). Models trained before this column read the whole
-- image, hence the default.
ALTER TABLE models ADD COLUMN framing VARCHAR DEFAULT 'full';
