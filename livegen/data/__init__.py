"""Training data, torch-free: music21 corpus conversion, token shards, splits and the manifest."""
