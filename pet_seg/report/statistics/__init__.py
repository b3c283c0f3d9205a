"""Statistics for configuration-level verdicts: seeds and test images as two noise sources."""
