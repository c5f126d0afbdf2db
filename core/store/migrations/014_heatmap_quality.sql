-- Heatmap quality (issue 15): localisation named and beside baselines, and faithfulness.
--
-- pointing_hit is now Zhang et al.'s pointing game (the map's maximum within 15 px of the
-- lesion mask at the stored image's resolution) and an all-zero map is a miss (energy 0), no
-- longer unscored. energy_box is the Score-CAM energy-based pointing game (the map's share
-- inside the lesion's bounding box); energy_inside stays the share inside the mask. The centre_
-- and uniform_ columns score, the same way, a centred Gaussian blob and a uniform map over the
-- region the model read (core.heatmaps.localisation). faithfulness is pytorch-grad-cam's
-- metric named in faithfulness_metric (core.heatmaps.quality.FAITHFULNESS_METRIC).
ALTER TABLE heatmaps ADD COLUMN energy_box DOUBLE;
ALTER TABLE heatmaps ADD COLUMN centre_pointing_hit BOOLEAN;
ALTER TABLE heatmaps ADD COLUMN centre_energy_box DOUBLE;
ALTER TABLE heatmaps ADD COLUMN centre_energy_inside DOUBLE;
ALTER TABLE heatmaps ADD COLUMN uniform_pointing_hit BOOLEAN;
ALTER TABLE heatmaps ADD COLUMN uniform_energy_box DOUBLE;
ALTER TABLE heatmaps ADD COLUMN uniform_energy_inside DOUBLE;
ALTER TABLE heatmaps ADD COLUMN faithfulness DOUBLE;
ALTER TABLE heatmaps ADD COLUMN centre_faithfulness DOUBLE;   -- the same metric for the centre blob
ALTER TABLE heatmaps ADD COLUMN faithfulness_metric VARCHAR;
-- Scores made under the old rules (strictly inside the mask; empty maps unscored) are dropped:
-- such a map has no faithfulness_metric, so the next precompute scores it again.
UPDATE heatmaps SET pointing_hit = NULL, energy_inside = NULL;
