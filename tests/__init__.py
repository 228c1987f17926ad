"""The harness's tests: ``unit`` (the harness itself), ``conformance`` (the device suite), and
``fixtures`` (what both share, imported as ``tests.fixtures.<module>``; no test lives there)."""
