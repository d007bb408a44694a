"""Person, pose, hand and person-mask detectors (MediaPipe wrappers)."""
