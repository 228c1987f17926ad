"""Several benches, one sign-off: the merged page from evidence files, and `harness signoff` itself.

No labgrid needed here: the benches are the emulated rig and a rig that cannot run. The sign-off of
benches behind labgrid places is in test_places_labgrid.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from harness.evidence import EvidenceLog
from harness.report.benches import BENCH_KEY, load_bench, render_benches_page
from tests.fixtures.inner_runs import UNUSED_PLUGINS

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")
DEVICES = [{"name": "ihd1", "role": "IHD"}, {"name": "ppmid1", "role": "PPMID"}]


def evidence(path: Path, rig: str, *, outcomes: dict[str, str | None], bench: dict | None = None) -> Path:
    log = EvidenceLog(path, run_info={"rig": rig, "devices": DEVICES, **({BENCH_KEY: bench} if bench else {})})
    for nodeid, outcome in outcomes.items():
        log.begin(nodeid)
        if outcome is not None:
            log.finish(nodeid, outcome)
    log.write()
    return path


def overall(page: str) -> str:
    match = re.search(r"Overall verdict </strong><span class=\"hh-verdict [^\"]+\"[^>]*>([A-Z ]+)<", page)
    assert match, "no overall verdict"
    return match.group(1)


def test_a_bench_that_did_not_complete_keeps_its_devices_rows_and_the_sign_off_is_incomplete(tmp_path: Path) -> None:
    done = evidence(tmp_path / "a.json", "bench-a", outcomes={"t::test_x": "passed"})
    stopped = evidence(tmp_path / "b.json", "bench-b", outcomes={},
                       bench={"status": "stopped", "reason": "rig 'bench-b' is not ready: radio port: held by alice",
                              "exit_code": 2})

    page = render_benches_page([load_bench(done), load_bench(stopped)])

    for row in ("bench-b · ihd1 — bench stopped", "bench-b · ppmid1 — bench stopped"):
        assert f"<strong>{row}</strong>" in page
    assert "held by alice" in page
    assert overall(page) == "INCOMPLETE"


def test_a_bench_killed_mid_test_is_judged_from_its_evidence_alone(tmp_path: Path) -> None:
    killed = evidence(tmp_path / "k.json", "bench-k", outcomes={"t::test_a": "passed", "t::test_b": None})

    bench = load_bench(killed)

    assert (bench.status, bench.completed) == ("stopped mid-test", False)
    assert overall(render_benches_page([bench])) == "INCOMPLETE"


def test_report_render_merges_several_files_and_names_the_one_it_cannot_read(tmp_path: Path) -> None:
    good = evidence(tmp_path / "a.json", "bench-a", outcomes={"t::test_x": "passed"})
    bad = tmp_path / "b.json"
    bad.write_text("{not json")

    result = subprocess.run([str(HARNESS), "report", "render", str(good), str(bad), "-o", str(tmp_path / "o.html")],
                            text=True, capture_output=True, timeout=60)

    assert result.returncode == 2
    assert result.stdout.count("\n") == 1 and str(bad) in result.stdout and "not a readable evidence file" in result.stdout


def test_signoff_runs_each_rig_in_its_own_process_and_shows_a_rig_that_cannot_run(tmp_path: Path) -> None:
    html = tmp_path / "signoff.html"

    result = subprocess.run([str(HARNESS), "signoff", "--rig", "emulated", "--rig", "nosuch", "--html", str(html),
                             "--suite", "tests/conformance/test_identity.py", "--", *UNUSED_PLUGINS],
                            cwd=REPO, text=True, capture_output=True, timeout=300, env={**_env(), "CI": "true"})

    assert result.returncode == 2, result.stdout + result.stderr
    assert "emulated: completed; 2 test(s)" in result.stdout
    assert re.search(r"nosuch: usage error \(.*unknown rig 'nosuch'; available rigs: .*emulated", result.stdout)
    page = html.read_text(encoding="utf-8")
    assert "<strong>emulated · ihd1</strong>" in page and "<strong>emulated · ppmid1</strong>" in page
    assert "<strong>nosuch · (no device known) — bench usage error</strong>" in page
    recorded = json.loads((tmp_path / "signoff.signoff" / "nosuch.evidence.json").read_text())
    assert recorded["run"][BENCH_KEY]["status"] == "usage error"


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    return env
