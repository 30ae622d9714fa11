"""The live path: ports, MIDI input, clock, generator session, scheduler, daemon.

A player's note walks: ports -> midi_in -> daemon (input thread) -> live_session (+ modes) ->
inference engine and sampler -> scheduler -> ports (docs/architecture.md draws it).
May import: livegen.config, livegen.errors, livegen.music, livegen.tokenizer, livegen.inference,
livegen.variation (the vary move, vary_move.py).
Only the entry points (serve_run, demo) import the daemon; nothing here imports livegen.tui
except serve_run's lazy TUI start, and nothing imports torch, train or export.
"""
