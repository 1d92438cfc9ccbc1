"""Procedural data for the built-in demo generator (see `demo.faces` and docs/faces.md)."""
