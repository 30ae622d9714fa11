"""The streaming beat-grid tokenizer: the one token language of the model, daemon and training.

Design, and why:

- **Time is beats on an integer grid of 24 steps per beat**, tempo-free. 24 holds 16ths (6 steps)
  and 8th/16th triplets (8/4 steps) exactly, so generated notes land on the DAW's grid at any
  tempo; the DAW's clock turns beats into seconds, in one place, at play time.
- **Events, not durations: NOTE_ON(pitch) VELOCITY(bin) ... NOTE_OFF(pitch).** A live player's
  release is unknown when the key goes down, and tokens once fed to the model's KV cache cannot
  be revised; provisional durations fixed later would force a re-prefill of everything after
  them. With events, a held note is just "not yet released".
- **TIME_SHIFT(1..96 steps)** moves time (96 = 4 beats); longer gaps use several shifts.
- **BAR** marks a bar line (from time signatures, or `beats_per_bar` live) and carries no time:
  the shift up to a bar line is split there, so the model sees where bars fall.
- **CHANNEL(0..15)** switches the part for the following notes (channel 9 = General MIDI drums);
  written only when the part changes. Streams start on channel 0, so a piano solo has none.
  **PROGRAM(0..127)** names the instrument of the current channel, written before a note-on
  when it changes.
- **VELOCITY** in 16 equal bins; specials PAD, BOS, EOS; conditioning tokens
  MODE_(call|accompany|continue), KEY_ (24 keys), STYLE_ (config.styles) and, with
  `structure_tokens`, CHORD_ (music.chords' 181, appended last so other ids never move). KEY and
  CHORD sit right after the BAR or time shift of the step they apply from (docs/structure.md).
- **Canonical order within one step** (offline): forced note-offs, then by channel, pitch, and
  note-off before note-on. The streaming encoder writes events as they come, so a time-ordered
  stream in that order encodes exactly as offline (a property test checks it).
- **Every note has an end**: zero-length notes after rounding get one step; re-striking a
  sounding key closes it; a note held `max_note_beats` (32) is closed there, by the encoder
  (clipping) and the decoder alike; the decoder's flush() closes the rest. The decoder never
  raises on ill-formed streams.
- The grammar (grammar.GRAMMAR) is data; Grammar(vocab).mask_after(prev) is the sampler's mask.

Files (midi_file): read with mido; sustain pedal (CC64) is applied to note durations, not
encoded. See midi_file's docstring.
"""

from livegen.tokenizer.config import TOKENIZER_VERSION, TokenizerConfig, check_compatible
from livegen.tokenizer.decoder import StreamingDecoder, decode_tokens, events_to_notes
from livegen.tokenizer.encoder import (
    QuantizedNote,
    StreamingEncoder,
    encode_events,
    encode_notes,
    normalize_notes,
    note_events,
    pair_events,
)
from livegen.tokenizer.events import (
    DecodedEvent,
    Note,
    NoteEvent,
    beat_to_step,
    bin_to_velocity,
    velocity_to_bin,
)
from livegen.tokenizer.grammar import GRAMMAR, Grammar
from livegen.tokenizer.midi_file import NoteOnCount, Score, count_note_ons, read_midi, write_midi
from livegen.tokenizer.roundtrip import (
    FileRoundTrip,
    RoundTripReport,
    compare_notes,
    round_trip,
    round_trip_file,
)
from livegen.tokenizer.vocab import DRUM_CHANNEL, KEY_NAMES, MODES, TokenKind, Vocab

__all__ = [
    "DRUM_CHANNEL",
    "GRAMMAR",
    "KEY_NAMES",
    "MODES",
    "TOKENIZER_VERSION",
    "DecodedEvent",
    "FileRoundTrip",
    "Grammar",
    "Note",
    "NoteEvent",
    "NoteOnCount",
    "QuantizedNote",
    "RoundTripReport",
    "Score",
    "StreamingDecoder",
    "StreamingEncoder",
    "TokenKind",
    "TokenizerConfig",
    "Vocab",
    "beat_to_step",
    "bin_to_velocity",
    "check_compatible",
    "compare_notes",
    "count_note_ons",
    "decode_tokens",
    "encode_events",
    "encode_notes",
    "events_to_notes",
    "normalize_notes",
    "note_events",
    "pair_events",
    "read_midi",
    "round_trip",
    "round_trip_file",
    "velocity_to_bin",
    "write_midi",
]
