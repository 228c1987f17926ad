"""HAN harness: plays the GB Communications Hub towards Zigbee HAN devices under test.

The package is layered (see README.md, "Layers"); imports point down only:
plugin -> cli -> report -> hub -> evidence -> ota -> rig/profiles, and emulator, which
knows nothing of hub/ or report/.
"""

__version__ = "0.1.0"
