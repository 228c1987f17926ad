"""What the conformance suite does on a real bench when a device needs a manual step.

A bench cannot re-flash a device by itself: the rig's ``[operator]`` policy decides. Under CI
(``CI`` set, no terminal) the test must skip or fail at once with the step in its message -- never
sit at a prompt nobody will answer.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.rig import OperatorPolicy, load_rig
from tests.fixtures.conformance_bench import OperatorBench

#: Any rig will do: an OperatorBench never looks at the radio, only at the rig's policy and power.
RIG = Path(__file__).resolve().parents[2] / "rigs" / "emulated.toml"


@pytest.fixture
def bench_rig(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI", "true")  # nobody at a terminal
    return load_rig(RIG)


@pytest.mark.parametrize(("policy", "outcome"), [("skip", pytest.skip.Exception), ("fail", pytest.fail.Exception)])
async def test_a_device_off_its_baseline_follows_the_non_interactive_policy(bench_rig, policy, outcome) -> None:
    rig = replace(bench_rig, operator=OperatorPolicy(interactive="prompt", non_interactive=policy))
    dut = rig.devices[0]
    with pytest.raises(outcome, match=rf"\[operator\] policy '{policy}'.*{dut.name} .*runs 0x00000102; re-flash it to its "
                                      r"baseline firmware 0x00000101"):
        await OperatorBench(rig, config=None).restore(dut, 0x101, running=0x102)


async def test_a_device_already_on_its_baseline_needs_no_step(bench_rig) -> None:
    rig = replace(bench_rig, operator=OperatorPolicy(interactive="fail", non_interactive="fail"))
    await OperatorBench(rig, config=None).restore(rig.devices[0], 0x101, running=0x101)


async def test_a_rejoin_without_power_control_is_a_manual_step(bench_rig) -> None:
    rig = replace(bench_rig, power=None, operator=OperatorPolicy(non_interactive="skip"))
    with pytest.raises(pytest.skip.Exception, match="power-cycle .* so that it rejoins the HAN"):
        await OperatorBench(rig, config=None).rejoin(rig.devices[0])


def test_a_prompt_nobody_answers_does_not_hold_the_run_open_at_its_end() -> None:
    """The operator's read stays blocked on stdin after the prompt times out; the process must still exit."""
    script = ("import asyncio\n"
              "from tests.fixtures.conformance_bench import _operator_line\n"
              "async def main():\n"
              "    try:\n"
              "        await asyncio.wait_for(_operator_line(), 0.2)\n"
              "    except TimeoutError:\n"
              "        print('nobody answered', flush=True)\n"
              "asyncio.run(main())\n")
    # stdin stays open and silent, as a terminal nobody types at
    process = subprocess.Popen([sys.executable, "-c", script], cwd=RIG.parents[1], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        exit_code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the process did not exit after its prompt timed out: {process.communicate()[0][-2000:]}")
    finally:
        if process.stdin is not None:
            process.stdin.close()
    assert exit_code == 0 and process.stdout is not None
    assert process.stdout.read() == "nobody answered\n"
