"""The device conformance suite, run against whatever ``--rig`` names."""
