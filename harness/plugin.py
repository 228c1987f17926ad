"""pytest face of the harness (filled in by the foundation work)."""
