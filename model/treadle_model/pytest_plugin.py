"""pytest plugin: ``@pytest.mark.treadle(**options)`` runs a test under the model.

Registered through the ``pytest11`` entry point, so installing treadle is
enough. A marked test's body becomes the main virtual thread of
:func:`treadle_model.explore` with the marker's options; any failing
execution fails the test with its trace and the marker that replays it::

    @pytest.mark.treadle(interrupt_main=True)
    def test_pump_survives_ctrl_c() -> None:
        ...

    # printed on failure, to rerun exactly the failing schedule:
    @pytest.mark.treadle(interrupt_main=True, replay="0*5,1*2,0*9")

With pytest-repeat, ``strategy="random"`` or ``"pct"`` and no ``seed``, each
repetition of ``pytest --count N`` explores one schedule seeded by its
repetition index (so ``--count 500`` runs 500 distinct seeded schedules, and
a failure names the seed that reproduces it).

This module imports only pytest at import time; the model (and greenlet) are
imported when a marked test runs.
"""

from __future__ import annotations

from typing import Any

import pytest

_REPEAT_PARAM = "__pytest_repeat_step_number"
_SUMMARY_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "treadle(**options): run the test body under treadle_model.explore with these "
        "options (strategy, max_executions, interrupt_main, spurious_wakeups, timeouts, "
        "seed, replay=SCHEDULE, ...)",
    )


def _repeat_index(item: pytest.Function) -> int | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get(_REPEAT_PARAM)
    return value if isinstance(value, int) else None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    marker = pyfuncitem.get_closest_marker("treadle")
    if marker is None:
        return None
    if marker.args:
        raise pytest.UsageError(
            f"{pyfuncitem.nodeid}: @pytest.mark.treadle takes keyword options only, "
            f"got positional {marker.args!r}"
        )
    import treadle_model

    options: dict[str, Any] = dict(marker.kwargs)
    schedule = options.pop("replay", None)
    function = pyfuncitem.obj
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    def body() -> None:
        function(**kwargs)

    index = _repeat_index(pyfuncitem)
    if (
        index is not None
        and schedule is None
        and options.get("strategy") in ("random", "pct")
        and "seed" not in options
    ):
        options["seed"] = index
        options.setdefault("max_executions", 1)

    if schedule is not None:
        report = treadle_model.replay(body, schedule, **options)
    else:
        report = treadle_model.explore(body, **options)
    if report.failures:
        failure = report.failures[0]
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "monitor")
        sep = ", " if shown else ""
        # The failure once, without its treadle_model.replay(...) line: the
        # body is this test (with its fixtures), which the marker reruns.
        import dataclasses

        shown_failure = dataclasses.replace(failure, replay_call="")
        pyfuncitem.stash[_SUMMARY_KEY] = f"{report._summary()}; {failure.kind}"
        pytest.fail(
            f"{report._summary()}\n\n{shown_failure}\n\nrerun exactly this schedule with:\n"
            f"    @pytest.mark.treadle({shown}{sep}replay={failure.schedule!r})",
            pytrace=False,
        )
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the failure printed once: the short summary gets one line.

    pytest puts a failure's whole message into the "short test summary" when it
    runs on CI (``$CI`` set) or with ``-vv``; for a treadle failure that is the
    trace a second time. The summary line names the report and the kind.
    """
    outcome = yield
    summary = item.stash.get(_SUMMARY_KEY, None)
    if summary is None or call.when != "call":
        return
    report = outcome.get_result()
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and hasattr(crash, "message"):
        crash.message = summary
