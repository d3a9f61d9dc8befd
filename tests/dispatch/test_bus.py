"""The live stream never loses a message silently: a client that reconnects resumes where it left off."""

import asyncio
from collections.abc import Callable

from basestation.dispatch.io.bus import Bus, Message


async def _take(stream: object, n: int) -> list[dict[str, object]]:
    out = []
    async for msg in stream:  # type: ignore[attr-defined]
        out.append({"seq": msg.seq, "topic": msg.topic, "data": msg.data})
        if len(out) == n:
            break
    return out


async def _waiting(stream: object, n: int) -> asyncio.Task[list[dict[str, object]]]:
    """A client reading ``n`` messages off ``stream``, already waiting for the first."""
    task = asyncio.create_task(_take(stream, n))
    await asyncio.sleep(0)
    return task


def test_reconnect_with_last_event_id_replays_what_was_missed() -> None:
    async def go() -> None:
        bus = Bus()
        first = bus.stream()
        task = await _waiting(first, 1)
        bus.publish("incident", {"id": "1-1", "state": "offered"})
        (seen,) = await task
        await first.aclose()  # the phone lost its connection
        bus.publish("incident", {"id": "1-1", "state": "accepted"})
        bus.publish("notice", {"kind": "low_battery"})
        resumed = await _take(bus.stream(since=int(str(seen["seq"]))), 2)
        assert [m["topic"] for m in resumed] == ["incident", "notice"]
        assert resumed[0]["data"] == {"id": "1-1", "state": "accepted"}

    asyncio.run(go())


def test_a_client_away_longer_than_the_history_is_told_to_reload() -> None:
    async def go() -> None:
        bus = Bus(history=3)
        for i in range(10):
            bus.publish("incident", {"n": i})
        got = await _take(bus.stream(since=2), 4)
        assert got[0]["topic"] == "resync"
        assert [m["data"] for m in got[1:]] == [{"n": 7}, {"n": 8}, {"n": 9}]

    asyncio.run(go())


def test_a_stalled_subscriber_is_dropped_not_waited_for() -> None:
    async def go() -> None:
        bus = Bus(queue_size=2)
        slow, fast = bus.stream(), bus.stream()
        first_slow = asyncio.create_task(anext(slow))
        got_fast = await _waiting(fast, 6)
        bus.publish("incident", {"n": 0})
        await first_slow  # the slow client read one message and then stopped reading
        for i in range(1, 6):
            bus.publish("incident", {"n": i})
            await asyncio.sleep(0.001)  # the fast client keeps up
        assert [m["data"] for m in await asyncio.wait_for(got_fast, 5)] == [{"n": i} for i in range(6)]
        assert bus.dropped_subscribers == 1
        await slow.aclose()

    asyncio.run(go())


def test_closing_ends_every_stream_and_any_opened_after() -> None:
    async def go() -> None:
        bus = Bus()
        open_one = bus.stream()
        waiting = await _waiting(open_one, 1)
        bus.close()
        assert await asyncio.wait_for(waiting, 5) == []  # ended, nothing delivered
        assert await _take(bus.stream(), 1) == []
        assert bus.subscribers == 0

    asyncio.run(go())


def test_a_failing_subscriber_is_dropped_and_the_others_still_get_the_message() -> None:
    bus = Bus()
    got: list[object] = []

    def broken(msg: object) -> bool:
        raise OSError("connection reset")

    def fine(msg: object) -> bool:
        got.append(msg)
        return True

    bus.attach(broken)
    bus.attach(fine)
    bus.publish("incident", {"id": "1-1"})  # never raises into the pipeline
    assert bus.subscribers == 1 and bus.dropped_subscribers == 1
    assert [m.data for m in got] == [{"id": "1-1"}]  # type: ignore[attr-defined]


def test_a_things_first_change_in_a_turn_goes_at_once_and_only_its_last_later_one_follows() -> None:
    """Three gateways' copies of one alarm, read together: the alarm at once, then one refined location."""

    async def go() -> None:
        bus = Bus()
        got: list[tuple[str, dict[str, object]]] = []

        def sink(msg: object) -> bool:
            if msg is not None:
                got.append((msg.topic, msg.data))  # type: ignore[attr-defined]
            return True

        bus.attach(sink)
        bus.publish_state("incident", "1-1", {"id": "1-1", "gateways": 1})
        assert got == [("incident", {"id": "1-1", "gateways": 1})]  # in the publisher's own call
        bus.publish_state("incident", "1-1", {"id": "1-1", "gateways": 2})
        bus.publish_state("incident", "2-1", {"id": "2-1", "gateways": 1})  # another incident: at once too
        bus.publish("notice", {"kind": "low_battery"})  # other messages are never held
        bus.publish_state("incident", "1-1", {"id": "1-1", "gateways": 3})
        assert [d for _, d in got] == [
            {"id": "1-1", "gateways": 1},
            {"id": "2-1", "gateways": 1},
            {"kind": "low_battery"},
        ]
        await asyncio.sleep(0)  # the turn ends
        assert got[3:] == [("incident", {"id": "1-1", "gateways": 3})]
        bus.publish_state("incident", "1-1", {"id": "1-1", "state": "accepted"})  # a new turn: at once again
        assert got[4:] == [("incident", {"id": "1-1", "state": "accepted"})]
        await asyncio.sleep(0)
        assert len(got) == 5

    asyncio.run(go())


def _sink(name: str, log: list[tuple[str, int]]) -> Callable[[Message | None], bool]:
    def sink(msg: Message | None) -> bool:
        if msg is not None:
            log.append((name, msg.seq))
        return True

    return sink


def test_a_readers_subscription_gets_what_is_addressed_to_it_before_the_dashboards_do() -> None:
    bus = Bus()
    log: list[tuple[str, int]] = []
    bus.attach(_sink("operator", log))  # attached first, served last
    detach_anna = bus.attach(_sink("anna", log), reader="anna")
    bus.attach(_sink("ben", log), reader="ben")
    bus.attach(_sink("ben-tablet", log), reader="ben")
    assert bus.subscribers == 4
    bus.publish("incident", {"id": "1-1"}, readers=["anna"])
    bus.publish("notice", {"kind": "low_battery"})
    bus.publish("incident", {"id": "2-1"}, readers=["ben", "carla"])
    assert log == [
        ("anna", 1),
        ("operator", 1),
        ("operator", 2),
        ("ben", 3),
        ("ben-tablet", 3),
        ("operator", 3),
    ]
    detach_anna()
    log.clear()
    bus.publish("incident", {"id": "1-1"}, readers=["anna"])
    assert log == [("operator", 4)]
    assert bus.subscribers == 3


def test_a_reader_resuming_gets_only_its_own_messages_from_the_history() -> None:
    bus = Bus()
    bus.publish("incident", {"id": "1-1"}, readers=["anna"])
    bus.publish("incident", {"id": "2-1"}, readers=["ben"])
    bus.publish("notice", {"kind": "gateway_offline"})
    bus.publish("incident", {"id": "1-1"}, readers=["anna", "ben"])
    log: list[tuple[str, int]] = []
    bus.attach(_sink("anna", log), since=0, reader="anna")
    bus.attach(_sink("operator", log), since=1)
    assert log == [("anna", 1), ("anna", 4), ("operator", 2), ("operator", 3), ("operator", 4)]


def test_held_state_keeps_its_readers() -> None:
    async def go() -> list[tuple[str, int]]:
        bus = Bus()
        log: list[tuple[str, int]] = []
        bus.attach(_sink("anna", log), reader="anna")
        bus.attach(_sink("ben", log), reader="ben")
        bus.publish_state("incident", "1-1", {"id": "1-1", "n": 1}, ["anna"])
        bus.publish_state("incident", "1-1", {"id": "1-1", "n": 2}, ["anna", "ben"])  # offered on: held
        await asyncio.sleep(0)
        return log

    assert asyncio.run(go()) == [("anna", 1), ("anna", 2), ("ben", 2)]
