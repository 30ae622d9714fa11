"""Musical facts with one home each: MIDI status bytes and message kinds, keys and scales, chords.

May import: the standard library, numpy (the chord and key estimators) and livegen.errors only;
every other package may import it.
"""
