"""The production facade hands out plain threading objects and validates input."""

from __future__ import annotations

import threading

import pytest

from treadle import sync


def test_facade_objects_are_threading_objects_in_production() -> None:
    assert isinstance(sync.Lock(), type(threading.Lock()))
    assert isinstance(sync.RLock(), type(threading.RLock()))
    assert isinstance(sync.Condition(), threading.Condition)
    assert isinstance(sync.Event(), threading.Event)
    assert isinstance(sync.Semaphore(2), threading.Semaphore)
    assert isinstance(sync.local(), threading.local)


def test_facade_types_accept_production_objects_in_isinstance() -> None:
    assert isinstance(threading.Lock(), sync.Lock)
    assert isinstance(threading.Event(), sync.Event)
    assert isinstance(threading.current_thread(), sync.Thread)


def test_cell_holds_a_value() -> None:
    cell = sync.Cell(1)
    assert cell.get() == 1
    cell.set(5)
    assert cell.get() == 5
    assert isinstance(cell, sync.Cell)


def test_spawned_thread_is_current_thread_inside_it() -> None:
    seen: list[sync.Thread] = []
    t = sync.spawn(lambda: seen.append(sync.current_thread()), name="probe")
    t.join()
    assert seen == [t]
    assert t.name == "probe"
    assert not t.is_alive()


def test_spawn_passes_args_and_kwargs() -> None:
    out: list[object] = []
    t = sync.spawn(lambda a, b=0: out.append((a, b)), 1, b=2)
    t.join()
    assert out == [(1, 2)]


def test_spawn_with_stack_size_restores_the_global_setting() -> None:
    before = threading.stack_size()
    t = sync.spawn(lambda: None, stack_size=1024 * 1024)
    t.join()
    assert threading.stack_size() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"stack_size": 10}, ValueError, "32768"),
        ({"stack_size": "big"}, TypeError, "stack_size"),
        ({"name": 3}, TypeError, "name"),
    ],
)
def test_spawn_rejects_bad_input(kwargs: dict[str, object], error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        sync.spawn(lambda: None, **kwargs)  # type: ignore[arg-type]


def test_spawn_rejects_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        sync.spawn(42)  # type: ignore[arg-type]


def test_sleep_rejects_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        sync.sleep(-1)


def test_emit_is_a_noop_in_production() -> None:
    assert not sync.observing()
    sync.emit("anything", x=1)


class _RecordingBackend(sync.ThreadingBackend):
    name = "recording"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def emit(self, event: str, fields: dict[str, object]) -> None:
        self.events.append((event, fields))


def test_using_backend_swaps_and_restores() -> None:
    backend = _RecordingBackend()
    production = sync.get_backend()
    with sync.using_backend(backend):
        assert sync.get_backend() is backend
        assert sync.observing()
        sync.emit("step", n=1)
    assert sync.get_backend() is production
    assert not sync.observing()
    assert backend.events == [("step", {"n": 1})]


def test_using_backend_refuses_to_nest() -> None:
    with (
        sync.using_backend(_RecordingBackend()),
        pytest.raises(RuntimeError, match="already installed"),
        sync.using_backend(_RecordingBackend()),
    ):
        pass  # pragma: no cover


def test_excepthook_round_trips_through_the_facade() -> None:
    original = sync.get_excepthook()
    assert original is threading.excepthook

    def hook(args: object) -> None:
        pass

    sync.set_excepthook(hook)
    try:
        assert threading.excepthook is hook
    finally:
        sync.set_excepthook(original)
    assert threading.excepthook is original


def test_set_excepthook_rejects_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        sync.set_excepthook(3)  # type: ignore[arg-type]
