"""Removing a key ring, and registering a removed ring's id again (the API's device routes, api.py, call these).

A removed ring leaves the resolver, so no frame of it is read again: its frames resolve to no device and are
counted as ``unknown_device``, held for the recovery sweep, then given up, counted and logged like any frame no
ring claims (pipeline.py). Its incidents stay as they are, an open one too: someone pressed for help, and only a
responder or an operator closes that.
"""

import logging

from fastapi import HTTPException, status

from basestation.dispatch.core import roster
from basestation.dispatch.io import roster_store
from basestation.dispatch.service import Dispatcher, now_ms

log = logging.getLogger("nightwatch.dispatch.roster")


async def remove_device(d: Dispatcher, device_id: int) -> None:
    if not await roster_store.remove_device(d.store, device_id, now_ms()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device")
    roster.forget_device(d.state, device_id)
    await d.registry_changed("device_removed", {"device_id": device_id})
    await d.carried_out(roster.shown("device_removed", {"id": device_id}))
    log.info("key ring %s removed: its key is wiped and its frames are refused from now on", device_id)


async def readd_device(
    d: Dispatcher, device_id: int, root_key: bytes, label: str | None, highest: int, bitmap: int
) -> None:
    """Register a removed ring's id again, or refuse (409). Its new counters must start above every counter the
    ring used before: its old incidents are named by those counters (``<device>-<counter>``), and a recording of
    one of its old frames must never pass for a new one, whatever key the ring has now."""
    before = await roster_store.removed_device_highest(d.store, device_id)
    if before is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "device id already provisioned")
    if highest < before:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"device {device_id} was removed after using counter {before}: provision the ring again with"
            f" --counter-start {before + 1} or higher",
        )
    if not await roster_store.readd_device(d.store, device_id, root_key, label, now_ms(), highest, bitmap):
        raise HTTPException(status.HTTP_409_CONFLICT, "device id already provisioned")
    # The ring may now be someone else's: their first alarm opens an incident of its own. The old one, if still
    # open, stays on the board until a responder or an operator closes it.
    d.state.open_by_device.pop(device_id, None)
    roster.forget_device(d.state, device_id)  # frames of its old life read back at start are no copies of new ones
    log.info("key ring %s registered again, from counter %s", device_id, highest + 1)
