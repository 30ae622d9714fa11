"""Click commands, one module per area; each command parses, loads config and calls one function."""
