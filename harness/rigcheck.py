"""Rig checks: is this bench ready, asked once, before any test that uses it.

A broken bench (an image not built, a radio unplugged) would otherwise show up as forty red
tests each failing for the same reason. Instead the checks run once, in order, and stop at the
first failure, which is kept: asking again reports the same failure without re-running anything
(a bench does not repair itself between tests). ``pytest`` and ``harness rig check`` run the
same list.

Later layers add their own checks (radio reachable, network up, devices joinable) with the
:func:`rig_check` decorator; a check takes the :class:`~harness.rig.Rig`, returns a short
description of what it found, and raises :class:`RigCheckFailed` (or a ``ConfigError`` /
``PortError`` / ``OSError``) with a one-line message when the bench is not ready.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from harness.ota import ImageFile, OtaError, SignatureStatus, verify
from harness.ota.gbcs import SIGNATURE_SIZE, TRAILER_SIZE
from harness.ota.signing import load_public_key
from harness.ports import PortError, check_port_present
from harness.rig import ImageAssignment, Rig
from harness.tomlread import ConfigError, display_path


class RigCheckFailed(Exception):
    """The bench is not ready; the message says what is wrong and, where known, what to do."""


#: Errors a check may raise to say "not ready"; anything else is a bug and keeps its traceback.
ANTICIPATED = (RigCheckFailed, ConfigError, PortError, OSError)


@dataclass(frozen=True, slots=True)
class RigCheck:
    name: str
    run: Callable[[Rig], str]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    name: str
    passed: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'ok  ' if self.passed else 'FAIL'} {self.name}: {self.detail}"


_REGISTRY: list[RigCheck] = []


def rig_check(name: str) -> Callable[[Callable[[Rig], str]], Callable[[Rig], str]]:
    """Register ``function(rig) -> detail`` as a check, run after those registered before it."""

    def register(function: Callable[[Rig], str]) -> Callable[[Rig], str]:
        if any(check.name == name for check in _REGISTRY):
            raise ValueError(f"a rig check named {name!r} is already registered")
        _REGISTRY.append(RigCheck(name, function))
        return function

    return register


def registered_checks() -> tuple[RigCheck, ...]:
    return tuple(_REGISTRY)


class State(enum.Enum):
    NOT_RUN = "not run"
    RUNNING = "running"
    READY = "ready"
    BROKEN = "broken"


#: The only moves a checker makes; anything else is a bug in the caller.
_TRANSITIONS = {
    (State.NOT_RUN, State.RUNNING),
    (State.RUNNING, State.READY),
    (State.RUNNING, State.BROKEN),
}


class RigChecker:
    """Runs the checks once; afterwards it only reports the stored result."""

    def __init__(self, rig: Rig, checks: Iterable[RigCheck] | None = None) -> None:
        self.rig = rig
        # None: the registry as it stands when the checks RUN, so a layer that registers its checks
        # after the plugin made this checker (on import, before collection ends) still gets them in.
        self._checks = None if checks is None else tuple(checks)
        self.state = State.NOT_RUN
        self.outcomes: list[CheckOutcome] = []
        self.first_failure: CheckOutcome | None = None

    @property
    def checks(self) -> tuple[RigCheck, ...]:
        return registered_checks() if self._checks is None else self._checks

    def _move(self, new: State) -> None:
        if (self.state, new) not in _TRANSITIONS:
            raise RuntimeError(f"rig checker for {self.rig.name!r}: cannot go from {self.state.value} to {new.value}")
        self.state = new

    def run(self) -> list[CheckOutcome]:
        """Run every check in order until the first failure; returns the outcomes so far.

        Calling it again returns the stored outcomes without running anything.
        """
        if self.state is State.NOT_RUN:
            self._move(State.RUNNING)
            for check in self.checks:
                try:
                    outcome = CheckOutcome(check.name, True, check.run(self.rig))
                except ANTICIPATED as exc:
                    outcome = CheckOutcome(check.name, False, str(exc) or type(exc).__name__)
                except BaseException as exc:
                    # A bug in the check: keep its traceback, but never leave the rig looking ready.
                    self.first_failure = CheckOutcome(check.name, False, f"the check crashed: {type(exc).__name__}: {exc}")
                    self.outcomes.append(self.first_failure)
                    self._move(State.BROKEN)
                    raise
                self.outcomes.append(outcome)
                if not outcome.passed:
                    self.first_failure = outcome
                    self._move(State.BROKEN)
                    break
            else:
                self._move(State.READY)
        return list(self.outcomes)

    def ensure_ready(self) -> None:
        """Run the checks if not yet run; raise :class:`RigCheckFailed` with the first failure."""
        self.run()
        if self.first_failure is not None:
            raise RigCheckFailed(f"rig {self.rig.name!r} is not ready: {self.first_failure.name}: "
                                 f"{self.first_failure.detail}")


# -- the checks every rig gets -------------------------------------------------------------------

#: How to make the sample images a rig refers to, for the message when one is missing.
BUILD_IMAGES_HINT = "build them with `harness image build-samples`"


#: Image purposes whose file is meant to be bad: the files check only asks that they exist.
MEANT_TO_BE_BAD = frozenset({"bad-signature", "corrupted"})


@rig_check("referenced files")
def check_referenced_files(rig: Rig) -> str:
    """Every image file and the supplier key exist, and every image meant to be good is one.

    Each image is parsed with the harness's OTA codec, and its supplier signature verified with
    the rig's key, unless its purpose is to be bad (:data:`MEANT_TO_BE_BAD`). A bad image is
    reported in one line naming the image, the file and the byte offset, here rather than inside
    the first test that offers it. Profiles were checked when the rig loaded.
    """
    missing = [f"images[{index}] {image.name!r}: {display_path(image.file)}"
               for index, image in enumerate(rig.images) if not image.file.is_file()]
    if rig.supplier_key is not None and not rig.supplier_key.is_file():
        missing.append(f"supplier.verification_key: {display_path(rig.supplier_key)}")
    if missing:
        raise RigCheckFailed(f"{display_path(rig.path)}: file not found: {'; '.join(missing)} ({BUILD_IMAGES_HINT})")
    public_key = _supplier_key(rig)
    verified = 0
    for index, image in enumerate(rig.images):
        if image.purpose in MEANT_TO_BE_BAD:
            continue
        problem = _image_problem(rig, image, public_key)
        if problem is not None:
            raise RigCheckFailed(f"{display_path(rig.path)}: images[{index}] {image.name!r} "
                                 f"(purpose {image.purpose}): {problem}")
        if public_key is not None:
            verified += 1
    good = len(rig.images) - sum(image.purpose in MEANT_TO_BE_BAD for image in rig.images)
    signatures = f", {verified} signature(s) verified" if public_key is not None else ""
    bad = f", {len(rig.images) - good} meant to be bad (present)" if good < len(rig.images) else ""
    key = ", supplier key" if rig.supplier_key is not None else ""
    return (f"{good} image(s) parsed{signatures}{bad}{key}, "
            f"{len(rig.profiles)} profile(s): {', '.join(sorted(rig.profiles))}")


def _supplier_key(rig: Rig) -> ec.EllipticCurvePublicKey | None:
    """The rig's supplier verification key, loaded; a file that is no P-256 public key fails the check."""
    if rig.supplier_key is None:
        return None
    try:
        return load_public_key(rig.supplier_key.read_bytes())
    except OtaError as exc:
        raise RigCheckFailed(f"{display_path(rig.path)}: supplier.verification_key: "
                             f"{display_path(rig.supplier_key)}: {exc.problem}") from None


def _image_problem(rig: Rig, image: ImageAssignment, public_key: ec.EllipticCurvePublicKey | None) -> str | None:
    """What is wrong with an image meant to be good, as ``file: field at byte N: problem``, or None."""
    where = display_path(image.file)
    try:
        with ImageFile.open(image.file) as opened:
            status = verify(opened, public_key) if public_key is not None else None
            span = opened.manufacturer_image_span
    except OtaError as exc:
        at = f"{exc.field} at byte {exc.offset}" if exc.offset is not None else exc.field
        return f"{where}: {at}: {exc.problem}"
    except OSError as exc:
        return f"{where}: cannot read: {exc.strerror or exc}"
    if status is SignatureStatus.INVALID:
        offset = span[0] + span[1] + TRAILER_SIZE - SIGNATURE_SIZE if span is not None else None
        return (f"{where}: signature at byte {offset}: does not verify with the supplier key "
                f"{display_path(rig.supplier_key or '')}")
    if status is SignatureStatus.ABSENT:
        requiring = sorted({rig.device(name).profile for name in image.devices
                            if rig.profile_for(name).ota.require_signature})
        if requiring:
            return (f"{where}: no supplier signature, and profile(s) {', '.join(requiring)} "
                    f"require one (ota.require_signature)")
    return None


@rig_check("radio port")
def check_radio_port(rig: Rig) -> str:
    """A real radio's device path exists or its USB match resolves to exactly one port; a rig that
    names a labgrid place acquires it here, before any test, and shows where its radio is exported."""
    if rig.radio.place is not None:
        from harness.places import lease_for  # only a place rig needs labgrid

        lease = lease_for(rig)
        assert lease.serial is not None
        return f"{lease.where}: acquired; radio exported at {lease.serial.describe()}"
    if rig.radio.emulated is not None:
        settings = rig.radio.emulated
        return f"emulated radio (EZSP v{settings.ezsp_version}, {settings.transport}); started with the session"
    assert rig.radio.port is not None
    return check_port_present(rig.radio.port)
