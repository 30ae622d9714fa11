"""Variations of what was played (issue 17): condensed note windows and their models' runtime.

Runtime side only (numpy + onnxruntime; the models are trained in livegen.train.models and
exported by livegen.export):
- notes.py     MIDI notes <-> condensed notes (pitch, velocity, onset gap, duration) in windows
"""
