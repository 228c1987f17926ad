"""Air captures: the pcapng files and keys file a lab engineer opens in Wireshark.

Pure file formats, no radio: the emulated air (:mod:`harness.emulator.air_capture`) and a
bench's sniffer write through the same code.
"""
