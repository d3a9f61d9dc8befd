"""What the link does with a message it cannot handle, on a real Mosquitto and a real SQLite database.

A failure that passes (the database locked by another writer, the service stopped meanwhile) leaves the message
unacknowledged: the broker keeps it and delivers it again. A failure no redelivery mends (the database refusing a
record for good) puts the message in the dead-letter table with its error, acknowledges it, counts it and tells
operators; the messages behind it go on being handled. See basestation/dispatch/io/failures.py."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from basestation.dispatch.io.failures import PermanentError, describe, permanent
from basestation.dispatch.settings import DispatchSettings
from harness.mosquitto import mosquitto_binary
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import linked, mosquitto, mqtt_settings, publish_as_gateway, until
from tests.dispatch.world import World, envelope, provision, topic

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto")

GATEWAY = "gw-breestraat"
POISONED, HEALTHY = 41, 42
# A rule the database enforces: every insert of this ring's frames is refused. What a real constraint does to a
# record it will never take (a value out of range, a schema the row cannot fit), made to happen on purpose.
TRIGGER = f"""CREATE TRIGGER refuse_ring BEFORE INSERT ON frames WHEN NEW.device_id = {POISONED}
BEGIN SELECT RAISE(ABORT, 'ring {POISONED} is refused by a constraint'); END"""


def _db_path(settings: DispatchSettings) -> str:
    return settings.database_url.split("///", 1)[1]


def _rows(settings: DispatchSettings, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(_db_path(settings)) as c:
        return c.execute(sql).fetchall()


def test_a_message_the_database_refuses_for_good_is_set_aside_and_the_next_alarm_is_handled(
    tmp_path: Path,
) -> None:
    world = World()
    poisoned, _ = world.frame(POISONED, EVENT_SOS)
    healthy, _ = world.frame(HEALTHY, EVENT_SOS)
    with mosquitto(tmp_path) as broker:
        settings = mqtt_settings(tmp_path, broker.host, broker.port)
        asyncio.run(provision(settings.database_url, world.roots))
        with sqlite3.connect(_db_path(settings)) as c:
            c.execute(TRIGGER)

        async def scenario() -> None:
            async with linked(settings) as (d, link):
                await asyncio.to_thread(
                    publish_as_gateway,
                    broker,
                    [(topic(GATEWAY), envelope(poisoned, GATEWAY)), (topic(GATEWAY), envelope(healthy, GATEWAY))],
                )
                await until(lambda: link.set_aside == 1 and d.dead_letters == 1, 10)
                await until(lambda: any(i.device_id == HEALTHY for i in d.state.incidents.values()), 10)
                # Handled without a reconnect: the refused message did not stop the one behind it.
                assert link.reconnects == 0
                letters = await d.store.dead_letters()
                assert len(letters) == 1
                [letter] = letters
                assert letter["topic"] == topic(GATEWAY)
                assert letter["payload"].encode() == envelope(poisoned, GATEWAY)
                assert letter["error"] == f"IntegrityError: ring {POISONED} is refused by a constraint"
                notices = [n for n in await d.store.notices() if n["kind"] == "dead_letter"]
                assert notices and notices[0]["subject"] == GATEWAY and notices[0]["error"] == letter["error"]
                assert d.health()["writer"]["set_aside"] == 1
                # Committed after all, for the healthy ring: its frame is on disk.
                assert _rows(settings, f"SELECT count(*) FROM frames WHERE device_id = {HEALTHY}") == [(1,)]

        asyncio.run(scenario())

        async def after_restart() -> None:
            # Acknowledged: a new session of the same client gets nothing again.
            async with linked(settings) as (d, link):
                await asyncio.sleep(1.0)
                assert link.set_aside == 0 and d.dead_letters == 0
                assert len(await d.store.dead_letters()) == 1

        asyncio.run(after_restart())


def test_a_database_that_is_away_leaves_the_alarm_with_the_broker_which_delivers_it_again(tmp_path: Path) -> None:
    world = World()
    frame, _ = world.frame(HEALTHY, EVENT_SOS)
    with mosquitto(tmp_path) as broker:
        settings = mqtt_settings(tmp_path, broker.host, broker.port)
        asyncio.run(provision(settings.database_url, world.roots))

        async def while_locked() -> None:
            # Another process holds the database's write lock for as long as this service runs.
            holder = sqlite3.connect(_db_path(settings), isolation_level=None)
            try:
                async with linked(settings) as (d, link):
                    holder.execute("BEGIN EXCLUSIVE")
                    await asyncio.to_thread(publish_as_gateway, broker, [(topic(GATEWAY), envelope(frame, GATEWAY))])
                    await until(lambda: d.writer.failures >= 1, 20)
                    # Waiting, not giving up: in hand, unacknowledged, and nothing set aside.
                    assert link.figures()["in_hand"] == 1
                    assert link.set_aside == 0 and d.dead_letters == 0
                    link._conn.abort()  # type: ignore[union-attr]  # the service dies before the lock goes
                    await d.writer.stop(drain_s=0)
            finally:
                holder.execute("ROLLBACK")
                holder.close()

        asyncio.run(while_locked())

        async def after() -> None:
            async with linked(settings) as (d, link):
                await until(lambda: any(i.device_id == HEALTHY for i in d.state.incidents.values()), 10)
                assert link.set_aside == 0 and await d.store.dead_letters() == []

        asyncio.run(after())


@pytest.mark.parametrize(
    ("error", "gives_up"),
    [
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.OperationalError("disk I/O error"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
        (TimeoutError(), False),
        (asyncio.CancelledError(), False),
        (sqlite3.DatabaseError("database disk image is malformed"), False),
        (sqlite3.IntegrityError("CHECK constraint failed"), True),
        (sqlite3.DataError("string or blob too big"), True),
        (PermanentError("cannot be handled"), True),
        (KeyError("gateway_id"), True),
        (OverflowError("int too large to convert to float"), True),
        (KeyboardInterrupt(), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_which_failures_a_redelivery_may_mend(error: BaseException, gives_up: bool) -> None:
    assert permanent(error) is gives_up


def test_sqlalchemy_wraps_the_same_way() -> None:
    from sqlalchemy import exc

    assert not permanent(exc.OperationalError("INSERT", {}, sqlite3.OperationalError("locked")))
    assert permanent(exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")))
    assert permanent(exc.StatementError("bad parameter", "INSERT", {}, ValueError("x")))


def test_the_description_is_one_line() -> None:
    assert describe(ValueError("first\nsecond")) == "ValueError: first"
    assert len(describe(ValueError("x" * 2000))) == 500
