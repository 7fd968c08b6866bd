"""The pytest marker runs a test under the model and fails with a replayable schedule."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

RACY = """
import pytest
from treadle import sync

@pytest.mark.treadle({options})
def test_counter():
    x = sync.Cell(0)
    def bump():
        x.set(x.get() + 1)
    ts = [sync.spawn(bump) for _ in range(2)]
    for t in ts:
        t.join()
    assert x.get() == 2, "lost update"
"""

LOCKED = """
import pytest
from treadle import sync

@pytest.mark.treadle()
def test_counter(tmp_path):
    x = sync.Cell(0)
    lock = sync.Lock()
    def bump():
        with lock:
            x.set(x.get() + 1)
    ts = [sync.spawn(bump) for _ in range(2)]
    for t in ts:
        t.join()
    assert x.get() == 2
    assert tmp_path.exists()  # fixtures still work
"""


def test_marked_test_passes_when_every_interleaving_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LOCKED)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_marked_test_fails_with_the_marker_that_replays_the_schedule(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(RACY.format(options=""))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "lost update" in text
    found = re.search(r"@pytest\.mark\.treadle\((replay='[^']+')\)", text)
    assert found, text

    # The printed marker reproduces exactly that failing execution.
    pytester.makepyfile(RACY.format(options=found.group(1)))
    again = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    again.assert_outcomes(failed=1)
    assert "lost update" in again.stdout.str()


def test_repetitions_explore_distinct_seeded_schedules(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RACY.format(options='strategy="random"'))
    first = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--count", "12", "-q")
    outcomes = first.parseoutcomes()
    # With one random schedule per repetition some lose the update and some
    # do not: the repetitions really run different schedules.
    assert outcomes.get("failed", 0) > 0 and outcomes.get("passed", 0) > 0, outcomes
    seeds = set(re.findall(r"seed=(\d+)", first.stdout.str()))
    assert seeds and seeds <= {str(i) for i in range(13)}
    # ... and each is reproducible: the same command gives the same outcome.
    second = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--count", "12", "-q")
    assert second.parseoutcomes() == outcomes


def test_marker_refuses_positional_arguments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.treadle("dpor")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert "keyword options only" in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("ci", "flags"),
    [(None, ()), ("true", ()), (None, ("-vv",))],
    ids=["plain", "on-ci", "very-verbose"],
)
def test_a_failing_marked_test_prints_its_failure_once(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ci: str | None,
    flags: tuple[str, ...],
) -> None:
    # On CI ($CI set) and with -vv pytest copies a failure's whole message
    # into the short summary; the plugin keeps that to one line.
    for name in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    pytester.makepyfile(RACY.format(options=""))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *flags)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert len(re.findall(r"^schedule: ", text, flags=re.MULTILINE)) == 1, text
    summary = [line for line in text.splitlines() if line.startswith("FAILED ")]
    assert len(summary) == 1, text
    if ci or flags:  # shown whole: the report's summary line and the kind
        assert " - treadle_model (dpor): 2 executions" in summary[0], summary
        assert summary[0].endswith("; exception"), summary
    assert text.count("trace:") == 1, text
    # The body is the test itself, so the replay is the marker, not a Python call.
    assert "treadle_model.replay(" not in text
