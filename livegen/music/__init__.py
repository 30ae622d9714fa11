"""Musical facts with one home each: MIDI status bytes and message kinds, keys and scales.

May import: the standard library and livegen.errors only; every other package may import it.
"""
