"""Command-line layer: the options every script shares and where each run writes."""
