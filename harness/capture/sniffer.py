"""A bench's sniffer radio: a second EZSP stick captures the air into the per-test pcapng files.

The stick is driven the way bellows captures packets (``ControllerApplication.packet_capture``,
formerly ``bellows dump``): the manufacturing library in receive mode on the HAN's channel
(``mfglibStart(rxCallback=True)``, ``mfglibSetChannel``), every frame reported to the host with
``mfglibRxHandler``. Its last two bytes are not the FCS; the FCS is recomputed so the files carry
link type 195 like the emulated rig's. Frames are stamped with the host's clock as they arrive.

    sniffer = Sniffer(port="/dev/ttyUSB1", channel=15)
    await sniffer.start()
    sniffer.start_capture(directory, nodeid, keys=False)   # per test, as EmulatedRadio does
    ...
    await sniffer.stop()

The sniffer itself writes no keys file: it does not know the keys. A bench whose rig opts in
(``[radio.sniffer] write_keys = true``) has its keys written by the plugin from the rig.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.ports import resolve_port

from .pcapng import PcapngWriter, capture_file_stem, ieee802154_fcs

if TYPE_CHECKING:
    from harness.rig import Rig

LOGGER = logging.getLogger(__name__)


class Sniffer:
    """One EZSP stick in mfglib receive mode, writing what it hears to the current capture file."""

    def __init__(self, *, port: str, channel: int, baudrate: int = 115200, flow_control: str = "software") -> None:
        self.port = port
        self.channel = channel
        self._config: dict[str, Any] = {
            "device": {"path": port, "baudrate": baudrate, "flow_control": flow_control},
            "database_path": None,
            "ota": {"enabled": False, "providers": []},
            "backup_enabled": False,
            "topology_scan_enabled": False,
        }
        self._app: Any = None
        self._callback: Any = None
        self._writer: PcapngWriter | None = None
        self._listening = False
        self.frames = 0

    @classmethod
    def for_rig(cls, rig: Rig) -> Sniffer | None:
        """The sniffer a rig names in ``[radio.sniffer]`` on its HAN channel, or None."""
        settings = rig.radio.sniffer
        if settings is None:
            return None
        return cls(
            port=resolve_port(settings.port),
            channel=rig.han.channel,
            baudrate=settings.baudrate,
            flow_control=settings.flow_control or "software",
        )

    async def start(self) -> None:
        """Connect to the stick and put it in receive mode on the channel (frames flow from now on)."""
        from bellows.zigbee.application import ControllerApplication

        self._app = ControllerApplication(self._config)
        await self._app.connect()
        ezsp = self._app._ezsp  # the EZSP layer: mfglib has no zigpy-level API but packet_capture's generator
        self._callback = ezsp.add_callback(self._frame_received)
        for command, args in (("mfglibStart", {"rxCallback": True}), ("mfglibSetChannel", {"channel": self.channel})):
            (status,) = await getattr(ezsp, command)(**args)
            if int(status) != 0:
                await self.stop()
                raise RuntimeError(f"sniffer radio at {self.port}: {command} answered {status!r}")
        self._listening = True

    def _frame_received(self, name: str, args: list[Any]) -> None:
        if name != "mfglibRxHandler":
            return
        _lqi, _rssi, contents = args
        frame = bytes(contents[:-2])  # the radio's last two bytes are not the FCS
        self.frames += 1
        if self._writer is not None:
            self._writer.write(time.time(), frame + ieee802154_fcs(frame))

    def start_capture(self, directory: Path, test_id: str, *, keys: bool = False) -> Path:
        """Capture into ``directory/<test id>.pcapng`` from now on (the previous file is closed)."""
        if keys:
            raise ValueError(f"sniffer {self.port}: it holds no keys; a bench's keys file comes from its rig")
        self.stop_capture()
        path = Path(directory) / f"{capture_file_stem(test_id)}.pcapng"
        self._writer = PcapngWriter(path, comment=f"sniffer {self.port}, channel {self.channel}: {test_id}")
        return path

    def stop_capture(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def stop(self) -> None:
        """Leave test mode and let the stick go (safe to call twice)."""
        self.stop_capture()
        app, self._app = self._app, None
        if app is None:
            return
        if self._listening:
            self._listening = False
            with contextlib.suppress(Exception):  # the stick may be gone; the capture files are closed
                await app._ezsp.mfglibEnd()
        if self._callback is not None:
            app._ezsp.remove_callback(self._callback)
            self._callback = None
        await app.disconnect()
