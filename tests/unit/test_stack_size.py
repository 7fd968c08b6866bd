"""stack_size is validated when the runtime or thread is created, not at start."""

from __future__ import annotations

import pytest

from treadle import Runtime, sync
from treadle.task import spawn
from treadle.threads import spawn_thread

BAD_VALUES = [1, 32 * 1024 - 1, -1, (1 << 30) + 1, 1 << 62, 1 << 70]


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_runtime_refuses_a_bad_stack_size_at_construction(bad: int) -> None:
    with pytest.raises(ValueError, match=r"stack_size must be 0 or None .* from 32768"):
        Runtime(stack_size=bad)


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_spawn_thread_refuses_a_bad_stack_size_before_starting(bad: int) -> None:
    ran: list[int] = []
    with pytest.raises(ValueError, match=r"1073741824 \(1 GiB\)"):
        spawn_thread(ran.append, 1, stack_size=bad)
    assert ran == []


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_task_spawn_refuses_a_bad_stack_size(bad: int) -> None:
    with pytest.raises(ValueError, match="stack_size"):
        spawn(lambda token: None, stack_size=bad)


@pytest.mark.parametrize("bad", [True, 1.5, "8M"])
def test_non_int_stack_size_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="stack_size"):
        Runtime(stack_size=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stack_size"):
        spawn_thread(lambda: None, stack_size=bad)  # type: ignore[arg-type]


def test_zero_none_and_the_bounds_are_accepted() -> None:
    assert sync.check_stack_size(0) is None
    assert sync.check_stack_size(None) is None
    assert sync.check_stack_size(sync.MIN_STACK_SIZE) == 32 * 1024
    assert sync.check_stack_size(sync.MAX_STACK_SIZE) == 1 << 30
    with Runtime(stack_size=0) as rt:
        assert rt.run_on_worker(lambda: 7) == 7
    assert spawn_thread(lambda: 5, stack_size=0).join(10) == 5
