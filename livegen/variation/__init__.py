"""Variations of what was played (issue 17): condensed note windows and their models' runtime.

Runtime side only (numpy + onnxruntime; the models are trained in livegen.train.models and
exported by livegen.export.variation_onnx):
- notes.py     MIDI notes <-> condensed notes (pitch, velocity, onset gap, duration) in windows
- schedule.py  the diffusion noise schedule and its DDPM / DDIM step
- model.py     an exported vae/ddpm folder and its onnxruntime sessions
- vary.py      `livegen vary`: a variation of every window of a MIDI file
- metrics.py   pitch accuracy, piano-roll IoU, Fréchet distance of features
- evaluate.py  `livegen eval` of a vae/ddpm folder: accuracy, IoU, FAD, samples/s
"""
