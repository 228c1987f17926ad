"""Bad input: mistyped rig files, profiles, expectation and GPF files, and damaged OTA images.

Every case either loads, or ends in the project's own error type (``RigError``, ``ProfileError``,
``ExpectationsError``, ``GpfDataError``, ``OtaError``) whose message names the file and the place
in it -- never another exception, never a hang, never a secret in the message.

Cases are mutations of the real files: the TOML is parsed, then keys are deleted, renamed, added,
values replaced by values of other types and ranges, array entries duplicated; the result is
written back as TOML (inline tables, so any shape can be written), and sometimes damaged as text
too (truncated, a character inserted) to reach the TOML parser's own errors. OTA images are the
sample images with bits flipped, bytes set, inserted, deleted or the file cut short, loaded the
way the hub loads them (``OfferedImage.from_file`` with the supplier key), which the codec's own
robustness test (test_ota_robustness.py) does not cover.

Each example runs under a hard per-example timer (SIGALRM), so a hang fails with the input
shown instead of stalling CI. The normal run tries a modest number of cases per kind; ``-m long``
runs many more. The counts tried (accepted / refused) are printed at the end of the module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import signal
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.hub.expectations import DEFAULT_EXPECTATIONS, ExpectationsError, load_expectations
from harness.hub.gpf import DEFAULT_GPF_FILE, GpfDataError, load_gpf
from harness.hub.images import OfferedImage
from harness.ota import OtaError
from harness.profiles import ProfileError, load_profile
from harness.rig import RigError, load_rig
from harness.tomlread import ConfigError, display_path
from tests.fixtures.rigfiles import (
    IHD_INSTALL_CODE,
    NETWORK_KEY,
    PPMID_INSTALL_CODE,
    PROFILES,
    SECRETS,
    emulated_rig_text,
    real_rig_text,
)

REPO = Path(__file__).resolve().parents[2]
SUPPLIER_KEY = REPO / "firmware_images" / "keys" / "TEST-ONLY-supplier-public.pem"

#: Examples per input kind: the normal run, and the long run (``-m long``).
NORMAL_EXAMPLES = 100
LONG_EXAMPLES = 2000
#: Hard limit on one example (load and check); loading a file takes milliseconds.
HANG_S = 5.0

#: What the bench1 seed's ``env:`` secrets read (its ``file:`` secret is written by ``workdir``).
ENVIRON = {"BENCH1_NETWORK_KEY": NETWORK_KEY, "BENCH1_IHD1_INSTALL_CODE": IHD_INSTALL_CODE}

#: Cases tried per kind, and how each ended: kind -> Counter(tried/accepted/refused).
COUNTS: dict[str, Counter[str]] = {}


class Hang(Exception):
    """An example ran past :data:`HANG_S`."""


@contextlib.contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread if the block runs longer than ``seconds``.

    A real timer, not hypothesis' deadline (which only judges an example after it returns):
    a loader stuck in a loop or a blocking read is interrupted and the example fails.
    """
    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- writing any parsed TOML back as TOML ------------------------------------------------------


def _quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quote(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a TOML value: {value!r}")


def to_toml(document: dict[str, Any]) -> str:
    """``document`` as TOML text; nested tables and arrays of tables are written inline."""
    return "".join(f"{_quote(key)} = {_value(value)}\n" for key, value in document.items())


# -- mutations ---------------------------------------------------------------------------------

_INTERESTING_TEXT = [
    "", " ", "0x1A62", "env:HARNESS_NO_SUCH_VARIABLE", "file:no-such-secret.txt", "../..", "/",
    "00:0D:6F:00:0B:12:34:5", "00:0D:6F:00:0B:12:34:51:00", "ZZ", "conformant", "leaves_han", "no_such_behaviour",
    "PPMID", "IHD", "HCALCS", "ppmid1", "ihd1", "ppmid-generic", "tcp://127.0.0.1:1", "socket://x",
    "rfc2217://", "now", "wait", "at", "image", "previous", "device", "in_range", "matches", "(unclosed",
    "2026-13-45T99:00:00Z", "software", "hardware", "\u00e9\u00e8", "\x00", "upgrade", "current",
]
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=24),
    st.sampled_from(_INTERESTING_TEXT),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["name", "x", "source"]), scalars, max_size=2), max_size=2),
)


def _places(node: Any, path: tuple = ()) -> list[tuple]:
    """Every key path into ``node`` (dict keys and list indices), containers included."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append(path + (key,))
        found.extend(_places(child, path + (key,)))
    return found


def _parent(document: Any, path: tuple) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def mutated_toml(draw: Callable, seeds: list[tuple[str, str]]) -> tuple[str, bytes]:
    """(file stem, file bytes): a seed file with 1-4 structural mutations, sometimes text or encoding damage."""
    stem, text = draw(st.sampled_from(seeds))
    document = tomllib.loads(text)
    for _ in range(draw(st.integers(1, 4))):
        places = _places(document)
        action = draw(st.sampled_from(["delete", "replace", "replace", "add", "rename", "duplicate", "retype"]))
        if not places:
            action = "add"
        path = draw(st.sampled_from(places)) if places else ()
        parent = _parent(document, path) if path else document
        key = path[-1] if path else None
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(values)
        elif action == "retype":  # the same value, written as the wrong kind
            old = parent[key]
            if isinstance(old, (dict, list)):  # (a table written as text would copy secrets into a plain field)
                parent[key] = draw(scalars)
            else:
                parent[key] = (str(old) if not isinstance(old, str)
                               else int(old, 16) if re.fullmatch(r"[0-9A-Fa-f]{1,15}", old) else [old])
        elif action == "rename" and isinstance(parent, dict):
            parent[key + draw(st.sampled_from(["s", "_", "X"]))] = parent.pop(key)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(parent[key])
        else:  # add an unknown key to a table
            tables = [document] + [_parent(document, p + ("",)) for p in places
                                   if isinstance(_parent(document, p + ("",)), dict)]
            table = draw(st.sampled_from(tables))
            table[draw(st.text(min_size=1, max_size=10))] = draw(values)
    out = to_toml(document)
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "insert", "encoding"]))
    if damage == "truncate" and out:
        out = out[: draw(st.integers(0, len(out) - 1))]
    elif damage == "insert":
        at = draw(st.integers(0, len(out)))
        out = out[:at] + draw(st.sampled_from(['"', "[", "]", "=", "\n", "{", "'", "#", "\\", "\x01", "\ufffd"])) + out[at:]
    data = out.encode("utf-8")
    if damage == "encoding":  # saved by an editor in Latin-1, or a stray byte: no longer UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xe9", b"\xff\xfe", b"\x80", b"\xc3"])) + data[at:]
    return stem, data


def _seed_files(*paths: Path) -> list[tuple[str, str]]:
    return [(p.stem, p.read_text(encoding="utf-8")) for p in paths]


RIG_SEEDS = _seed_files(REPO / "rigs" / "emulated.toml", REPO / "rigs" / "bench1.toml") + [
    ("emulated", emulated_rig_text()), ("bench", real_rig_text()),
]
PROFILE_SEEDS = _seed_files(*sorted((REPO / "profiles").glob("*-generic.toml"))) + list(PROFILES.items())
EXPECTATION_SEEDS = _seed_files(DEFAULT_EXPECTATIONS)
GPF_SEEDS = _seed_files(DEFAULT_GPF_FILE)
IMAGE_SEEDS = [p.read_bytes() for p in sorted((REPO / "firmware_images").glob("*.ota")) if "truncated" not in p.name]


@st.composite
def damaged_image(draw: Callable) -> bytes:
    data = bytearray(draw(st.sampled_from(IMAGE_SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        action = draw(st.sampled_from(["flip", "set", "header", "truncate", "insert", "delete", "tail"]))
        pos = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[pos] = draw(st.integers(0, 255))
        elif action == "header":  # the 56..69-byte header: sizes, field control, versions
            data[draw(st.integers(0, min(len(data), 69) - 1))] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        else:  # the signature at the end of a GBCS image
            data[-draw(st.integers(1, min(len(data), 70)))] ^= 0xFF
    return bytes(data)


# -- what each kind of input must do -------------------------------------------------------------


def _refused_clearly(exc: ConfigError, path: Path, data: bytes) -> None:
    """A config error names the file, and -- when the text parsed as TOML -- the key path."""
    assert exc.file == display_path(path) and str(exc).startswith(exc.file), str(exc)
    assert exc.problem.strip(), str(exc)
    try:
        tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        assert "not UTF-8" in exc.problem, str(exc)
    except tomllib.TOMLDecodeError:
        assert "not valid TOML" in exc.problem, str(exc)
        assert re.search(r"line \d+|end of document", exc.problem), f"no position in: {exc}"
    else:
        assert exc.key_path, f"no key path in: {exc}"
    shown = str(exc).upper()
    for secret in SECRETS:
        assert secret.upper() not in shown, f"a secret in the message: {exc}"


def _try(kind: str, load: Callable[[], Any], expected: type[Exception], on_error: Callable[[Any], None]) -> None:
    counts = COUNTS.setdefault(kind, Counter())
    counts["tried"] += 1
    try:
        with hard_deadline(HANG_S):
            load()
    except expected as exc:
        counts["refused"] += 1
        on_error(exc)
    else:
        counts["accepted"] += 1


def check_rig(case: tuple[str, str], workdir: Path) -> None:
    stem, data = case
    path = workdir / f"{stem}.toml"
    path.write_bytes(data)
    _try("rig files", lambda: load_rig(path, profiles_dir=REPO / "profiles", environ=ENVIRON), RigError,
         lambda exc: _refused_clearly(exc, path, data))


def check_profile(case: tuple[str, str], workdir: Path) -> None:
    stem, data = case
    path = workdir / f"{stem}.toml"
    path.write_bytes(data)
    _try("profiles", lambda: load_profile(path), ProfileError, lambda exc: _refused_clearly(exc, path, data))


def check_expectations(case: tuple[str, str], workdir: Path) -> None:
    stem, data = case
    path = workdir / f"{stem}.toml"
    path.write_bytes(data)
    _try("expectation files", lambda: load_expectations(path), ExpectationsError,
         lambda exc: _refused_clearly(exc, path, data))


def check_gpf(case: tuple[str, str], workdir: Path) -> None:
    stem, data = case
    path = workdir / f"{stem}.toml"
    path.write_bytes(data)
    _try("GPF files", lambda: load_gpf(path), GpfDataError, lambda exc: _refused_clearly(exc, path, data))


def check_image(data: bytes, workdir: Path) -> None:
    path = workdir / "damaged.ota"
    path.write_bytes(data)

    def refused(exc: OtaError) -> None:
        assert exc.source is not None and str(path) in str(exc), f"the file is not named: {exc}"
        assert exc.field, str(exc)

    def load() -> None:
        image = OfferedImage.from_file("damaged", path, verification_key=SUPPLIER_KEY)
        # Accepted: it must serve every block of itself without surprises.
        served = b"".join(image.read(offset, 40) for offset in range(0, image.size, 40))
        assert len(served) == image.size == len(data)

    _try("OTA images", load, OtaError, refused)


KINDS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any, Path], None]]] = {
    "rig": (mutated_toml(RIG_SEEDS), check_rig),
    "profile": (mutated_toml(PROFILE_SEEDS), check_profile),
    "expectations": (mutated_toml(EXPECTATION_SEEDS), check_expectations),
    "gpf": (mutated_toml(GPF_SEEDS), check_gpf),
    "ota-image": (damaged_image(), check_image),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    (root / "keys").mkdir()
    (root / "keys" / "ppmid1.install-code").write_text(PPMID_INSTALL_CODE + "\n")
    return root


@pytest.fixture(scope="module", autouse=True)
def report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Say how many cases were tried, per kind, when the module is done."""
    COUNTS.clear()
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    lines = [f"{kind}: {c['tried']} tried, {c['accepted']} accepted, {c['refused']} refused with the project's error"
             for kind, c in COUNTS.items()]
    if reporter is not None and lines:
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.write_line("")
            reporter.write_line("bad-input cases (hypothesis, shrinking included): " + "; ".join(lines))


_SETTINGS = dict(deadline=None, derandomize=False, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=NORMAL_EXAMPLES, **_SETTINGS)
@given(data=st.data())
def test_bad_input_is_refused_with_the_place_named_or_accepted(kind, data, workdir):
    strategy, check = KINDS[kind]
    check(data.draw(strategy, label=kind), workdir)


@pytest.mark.long
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=LONG_EXAMPLES, **_SETTINGS)
@given(data=st.data())
def test_bad_input_long_run(kind, data, workdir):
    strategy, check = KINDS[kind]
    check(data.draw(strategy, label=kind), workdir)


def test_the_seeds_themselves_load(workdir):
    # The mutations start from files that load: otherwise every case would be refused for the
    # same reason and the test would prove little.
    for stem, text in RIG_SEEDS:
        path = workdir / f"{stem}.toml"
        path.write_text(to_toml(tomllib.loads(text)), encoding="utf-8")
        load_rig(path, profiles_dir=REPO / "profiles", environ=ENVIRON)
    for stem, text in PROFILE_SEEDS:
        path = workdir / f"{stem}.toml"
        path.write_text(to_toml(tomllib.loads(text)), encoding="utf-8")
        load_profile(path)
    for loader, (stem, text) in ((load_expectations, EXPECTATION_SEEDS[0]), (load_gpf, GPF_SEEDS[0])):
        path = workdir / f"{stem}.toml"
        path.write_text(to_toml(tomllib.loads(text)), encoding="utf-8")
        loader(path)
    for data in IMAGE_SEEDS:
        (workdir / "seed.ota").write_bytes(data)
        OfferedImage.from_file("seed", workdir / "seed.ota", verification_key=SUPPLIER_KEY)


def test_a_hang_is_caught_by_the_deadline_guard():
    with pytest.raises(Hang), hard_deadline(0.05):
        while True:
            pass


def test_a_path_the_os_cannot_use_is_a_rig_error_naming_the_key(workdir):
    # Found by the long run: a NUL byte in a path escaped as a bare ValueError from pathlib.
    document = tomllib.loads(emulated_rig_text())
    document["supplier"] = {"verification_key": "keys/\x00.pem"}
    path = workdir / "emulated.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    with pytest.raises(RigError) as info:
        load_rig(path, profiles_dir=REPO / "profiles", environ=ENVIRON)
    assert info.value.key_path == "supplier.verification_key" and "not a usable path" in info.value.problem
