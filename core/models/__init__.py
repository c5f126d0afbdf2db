"""The six classifiers: registry, ImageNet weights from the local cache, training, checkpoints,
loading for inference, and the trunk/head split that makes heatmaps cheap."""
