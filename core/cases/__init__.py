"""The case library: decoding and validating images, importers, the phantom generator."""
