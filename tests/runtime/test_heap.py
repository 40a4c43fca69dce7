"""settle_heap: what is alive at startup leaves the cyclic collector's generations."""

import gc
import weakref
from collections.abc import Iterator

import pytest
from switchboard_runtime import RuntimeSettings
from switchboard_runtime.heap import release_heap, settle_heap


@pytest.fixture
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (the rest of the suite is unaffected)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_alive_at_startup_are_frozen_and_new_ones_are_not(thawed: None) -> None:
    startup = {"a": [1, 2]}
    frozen = settle_heap()
    later = {"b": [3]}
    assert frozen == gc.get_freeze_count() > 0
    tracked = {id(o) for o in gc.get_objects()}
    assert id(startup) not in tracked  # the permanent generation is never scanned
    assert id(later) in tracked


class _Node:
    me: "_Node"


def test_cyclic_garbage_of_startup_is_collected_not_frozen(thawed: None) -> None:
    node = _Node()
    node.me = node
    gone = weakref.ref(node)
    del node
    settle_heap()
    assert gone() is None


def test_a_stopped_service_releases_what_it_froze(thawed: None) -> None:
    """A service started inside another process (tests do) must not keep its app for good."""
    app = _Node()
    app.me = app  # an app's graph is full of cycles
    gone = weakref.ref(app)
    settle_heap()
    del app
    gc.collect()
    assert gone() is not None  # frozen: the collector never looks at it
    release_heap()
    gc.collect()
    assert gone() is None


def test_on_by_default() -> None:
    assert RuntimeSettings().gc_freeze is True
    assert RuntimeSettings(GC_FREEZE="false").gc_freeze is False
