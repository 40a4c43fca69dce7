"""The cyclic garbage collector kept off the event path: a service's startup heap is frozen.

A full (generation 2) collection scans every container object the process tracks, holding the
event loop meanwhile. Most of a service's objects are made at startup (modules, classes,
pydantic and SQLAlchemy schemas, connection pools: 90 000 in the gateway, 150 000 in the
session service) and live for good, yet each full collection (every few seconds at 1 000
events/s) scanned them all again: a pause of tens of ms that held up every event in flight in that
process (issue 13's p99). `settle_heap` collects once, then moves everything alive into the
permanent generation, which collections never scan (`gc.freeze`): a full collection then costs
in proportion to what was made since startup. Frozen objects are still freed by reference
counting; only a cycle among them that became garbage later would stay (the garbage of startup
itself is collected just before the freeze).
"""

import gc


def settle_heap() -> int:
    """Collect, then freeze every object alive now (call once startup is done); how many are
    frozen in all."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def release_heap() -> None:
    """Undo `settle_heap` as a service stops: what it froze is collectable again (a service run
    inside another process, as tests do, would otherwise keep every frozen app it started)."""
    gc.unfreeze()
