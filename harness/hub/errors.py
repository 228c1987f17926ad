"""The hub's exceptions, in one module every other hub module may import.

They live apart from the classes that raise them so that no two hub modules import each other
for an exception (the CommsHub and its Key Establishment server once did), and so that a caller
-- the run, the plugin, the CLI -- can catch them without importing bellows.
"""

from __future__ import annotations


class HubError(RuntimeError):
    """The hub cannot do what it was asked (unknown device, not joined, radio gone)."""


class DeviceNotAdmitted(RuntimeError):
    """A device under test did not join (or did not finish its interview) in time."""

    def __init__(self, name: str, eui64: str, seconds: float, what: str) -> None:
        self.name, self.eui64, self.seconds = name, eui64, seconds
        super().__init__(f"device {name} ({eui64}) not admitted within {seconds:g} s: {what}")


class CbkeRadioError(RuntimeError):
    """An NCP CBKE operation failed; ``unsupported`` is True when the NCP has no CBKE library at all."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


class KeStateError(RuntimeError):
    """A key-establishment input the session's state does not allow (a bug in the server, not a device defect)."""


class SessionError(RuntimeError):
    """An OTA event the session table does not allow in its current state (a harness bug)."""


__all__ = ["CbkeRadioError", "DeviceNotAdmitted", "HubError", "KeStateError", "SessionError"]
