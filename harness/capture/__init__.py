"""Air captures: the pcapng files and keys file a lab engineer opens in Wireshark.

File formats (pcapng, the keys file) with no radio in them, which the emulated air
(:mod:`harness.emulator.air_capture`) writes through; and a bench's sniffer stick
(:mod:`.sniffer`, over bellows), which writes the same files from real air.
"""
