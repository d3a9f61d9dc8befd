"""How the key ring is told about its alarm (lifecycle.py): how an ACK is numbered, stored and queued, to the
last seq; what it carries; through which gateway it goes; and which press, through which gateway, is told what,
or nothing (docs/lifecycle.md)."""

import logging

import pytest

from basestation.dispatch.core.effects import AckSent, Effects
from basestation.dispatch.core.incidents import Event, Incident, State
from basestation.dispatch.core.lifecycle import (
    REACK_MS,
    best_lora,
    queue_ack,
    tell_ring,
)
from basestation.dispatch.core.state import DispatchState, Recent
from protocol import ack
from protocol.constants import (
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_SEQ_MAX,
    ACK_UNAVAILABLE,
)
from protocol.keys import DeviceKeys
from tests.dispatch.ring_cases import DEVICE, T0, incident

ROOT = bytes(range(16))
FRAME = bytes.fromhex("01a0b0c0d0")  # stands for the uplink the ACK answers: only its bytes travel back


# -- queueing an ACK -------------------------------------------------------------------------------------------


def _state() -> DispatchState:
    st_ = DispatchState()
    st_.resolver.add(DEVICE, ROOT)
    return st_


def _recent(heard: dict[str, tuple[str, float | None]] | None = None, acks: int = 0) -> Recent:
    heard = {"gw-a": ("lora", -90.0)} if heard is None else heard
    return Recent("sos", f"{DEVICE}-1", T0, heard=dict(heard), frame=FRAME, acks=acks)


def _opened(payload: dict[str, str], counter: int) -> ack.Ack:
    return ack.decode(DeviceKeys(ROOT), bytes.fromhex(payload["frame"]), counter)


def test_an_ack_is_numbered_stored_and_queued_for_its_gateway() -> None:
    st_, eff, recent = _state(), Effects(), _recent()
    assert queue_ack(st_, eff, DEVICE, 3, recent, ACK_HELP_ON_THE_WAY, "gw-a", T0 + 5, eta_min=7)
    assert (recent.acks, recent.ack_state, recent.acked_ms) == (1, ACK_HELP_ON_THE_WAY, T0 + 5)
    assert eff.durable == [AckSent(DEVICE, 3, 0)]
    [down] = eff.downlinks
    assert down.gateway_id == "gw-a"
    assert down.payload["id"] == f"{DEVICE}-3-0"
    assert down.payload["uplink"] == FRAME.hex()
    a = _opened(down.payload, 3)
    assert (a.counter, a.state, a.seq, a.eta_min) == (3, ACK_HELP_ON_THE_WAY, 0, 7)
    assert st_.acks_withheld == 0


def test_each_ack_for_a_counter_takes_the_next_seq() -> None:
    st_, eff, recent = _state(), Effects(), _recent(acks=41)
    for _ in range(3):
        assert queue_ack(st_, eff, DEVICE, 3, recent, ACK_RECEIVED, "gw-a", T0)
    assert [d.seq for d in eff.durable if isinstance(d, AckSent)] == [41, 42, 43]
    assert [_opened(d.payload, 3).seq for d in eff.downlinks] == [41, 42, 43]
    assert recent.acks == 44


def test_the_last_seq_is_used_and_then_no_more_acks_go_out(caplog: pytest.LogCaptureFixture) -> None:
    st_, eff, recent = _state(), Effects(), _recent(acks=ACK_SEQ_MAX)
    assert queue_ack(st_, eff, DEVICE, 3, recent, ACK_RECEIVED, "gw-a", T0)
    assert _opened(eff.downlinks[0].payload, 3).seq == ACK_SEQ_MAX == 255
    # SPEC 6: seq never wraps. The ring's next press takes a new counter.
    with caplog.at_level(logging.WARNING, logger="nightwatch.dispatch.lifecycle"):
        assert not queue_ack(st_, eff, DEVICE, 3, recent, ACK_CLOSED, "gw-a", T0 + 1)
        assert not queue_ack(st_, eff, DEVICE, 3, recent, ACK_CLOSED, "gw-a", T0 + 2)
    assert st_.acks_withheld == 2  # each ACK not sent is counted
    assert len(eff.downlinks) == 1 and len(eff.durable) == 1
    assert (recent.acks, recent.ack_state, recent.acked_ms) == (256, ACK_RECEIVED, T0)
    # The operators' log names the ring and the counter.
    assert [r.getMessage() for r in caplog.records] == [
        f"device {DEVICE} counter 3: all ACK numbers used; no more ACKs for it"
    ] * 2


@pytest.mark.parametrize(("eta", "sent"), [(0, 0), (12, 12), (255, 255), (256, 255), (10_000, 255), (-3, 0)])
def test_the_eta_sent_fits_its_byte(eta: int, sent: int) -> None:
    eff = Effects()
    queue_ack(_state(), eff, DEVICE, 3, _recent(), ACK_HELP_ON_THE_WAY, "gw-a", T0, eta_min=eta)
    assert _opened(eff.downlinks[0].payload, 3).eta_min == sent


def test_an_ack_given_no_eta_carries_none() -> None:
    eff = Effects()
    queue_ack(_state(), eff, DEVICE, 3, _recent(), ACK_HELP_ON_THE_WAY, "gw-a", T0)
    assert _opened(eff.downlinks[0].payload, 3).eta_min == ack.ETA_UNKNOWN == 0


def test_keys_given_are_used_instead_of_the_resolvers() -> None:
    # After a restart a ring may answer from keys read back before the resolver holds it.
    st_, eff = DispatchState(), Effects()
    assert queue_ack(st_, eff, DEVICE, 3, _recent(), ACK_RECEIVED, "gw-a", T0, keys=DeviceKeys(ROOT))
    assert _opened(eff.downlinks[0].payload, 3).state == ACK_RECEIVED


def test_the_ack_answers_the_uplink_as_it_was_when_queued() -> None:
    eff, recent = Effects(), _recent()
    queue_ack(_state(), eff, DEVICE, 3, recent, ACK_RECEIVED, "gw-a", T0)
    recent.frame = b"\x02later"
    assert eff.downlinks[0].payload["uplink"] == FRAME.hex()


@pytest.mark.parametrize(
    ("event", "incident", "alarm"),
    [
        ("sos", f"{DEVICE}-1", True),
        ("escort", f"{DEVICE}-1", True),
        ("cancel", f"{DEVICE}-1", True),
        ("cancel", None, True),  # a cancel of an alarm already over: the wearer still waits for its answer
        ("duress", None, True),
        ("heartbeat", None, False),  # supervision traffic: dropped when a gateway's queue is full
        ("low_battery", None, False),
        ("test", None, False),
        ("", f"{DEVICE}-1", True),  # an incident's frame a replica read back without its event
        ("", None, False),  # nothing known of it yet
    ],
)
def test_only_the_answer_to_an_alarm_is_marked_never_to_be_dropped(
    event: str, incident: str | None, alarm: bool
) -> None:
    eff = Effects()
    recent = Recent(event, incident, T0, heard={"gw-a": ("lora", -90.0)}, frame=FRAME)
    assert queue_ack(_state(), eff, DEVICE, 3, recent, ACK_RECEIVED, "gw-a", T0)
    [down] = eff.downlinks
    assert down.alarm is alarm


# -- the gateway -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "want"),
    [
        ({}, None),
        ({"gw-a": ("ble", -40.0)}, None),  # BLE gateways only listen
        ({"gw-a": ("ble", -40.0), "gw-b": ("lora", -118.0)}, "gw-b"),
        ({"gw-a": ("lora", -80.0), "gw-z": ("lora", -100.0)}, "gw-a"),  # the strongest, not the last name
        ({"gw-z": ("lora", -80.0), "gw-a": ("lora", -100.0)}, "gw-z"),
        ({"gw-a": ("lora", None), "gw-b": ("lora", -125.0)}, "gw-b"),  # an unknown RSSI ranks below any known
        ({"gw-a": ("lora", None)}, "gw-a"),
    ],
)
def test_the_ack_goes_through_the_lora_gateway_that_heard_best(
    heard: dict[str, tuple[str, float | None]], want: str | None
) -> None:
    assert best_lora(_recent(heard)) == want


# -- telling the ring ------------------------------------------------------------------------------------------


def _told(inc: Incident, recent: Recent | None = None, known: bool = True) -> tuple[DispatchState, Effects]:
    st_ = _state() if known else DispatchState()
    if recent is not None:
        st_.recent[DEVICE, inc.ring_counter] = recent
    eff = Effects()
    tell_ring(st_, inc, T0 + 9_000, eff)
    return st_, eff


def test_help_on_the_way_goes_to_the_latest_press_through_the_best_gateway_with_the_eta() -> None:
    inc = incident(State.ACCEPTED, ring=3, accepted_by=("anna",), eta_min=6)
    recent = _recent({"gw-a": ("lora", -95.0), "gw-b": ("lora", -70.0), "gw-c": ("ble", -30.0)})
    _, eff = _told(inc, recent)
    [down] = eff.downlinks
    assert down.gateway_id == "gw-b"
    a = _opened(down.payload, 3)
    assert (a.state, a.eta_min, a.seq) == (ACK_HELP_ON_THE_WAY, 6, 0)
    assert eff.durable == [
        AckSent(DEVICE, 3, 0),
        Event(inc.id, T0 + 9_000, "ack_queued", {"state": "help_on_the_way", "gateway": "gw-b"}),
    ]
    assert inc.updated_ms == T0 + 9_000
    assert (recent.ack_state, recent.acked_ms) == (ACK_HELP_ON_THE_WAY, T0 + 9_000)


@pytest.mark.parametrize(
    ("inc", "state", "name"),
    [
        (incident(State.RESOLVED, accepted_by=("anna",), eta_min=6), ACK_CLOSED, "closed"),
        (incident(State.ESCALATED, unavailable=True, eta_min=6), ACK_UNAVAILABLE, "unavailable"),
        (incident(State.OPEN, eta_min=6), ACK_RECEIVED, "received"),
    ],
)
def test_only_help_on_the_way_carries_an_eta(inc: Incident, state: int, name: str) -> None:
    _, eff = _told(inc, _recent())
    a = _opened(eff.downlinks[0].payload, inc.ring_counter)
    assert (a.state, a.eta_min) == (state, 0)
    assert eff.durable[-1] == Event(inc.id, T0 + 9_000, "ack_queued", {"state": name, "gateway": "gw-a"})


def test_a_quiet_ring_is_told_nothing() -> None:
    recent = _recent()
    _, eff = _told(incident(State.ACCEPTED, ring=3, quiet=4, accepted_by=("anna",)), recent)
    assert (eff.downlinks, eff.durable) == ([], [])
    assert (recent.acks, recent.ack_state) == (0, None)


def test_a_ring_dispatch_holds_no_keys_for_is_told_nothing() -> None:
    recent = _recent()
    _, eff = _told(incident(State.ACCEPTED, accepted_by=("anna",)), recent, known=False)
    assert (eff.downlinks, eff.durable) == ([], [])
    assert recent.ack_state is None


def test_a_press_no_longer_remembered_is_told_nothing() -> None:
    inc = incident(State.ACCEPTED, ring=3, accepted_by=("anna",))
    st_ = _state()
    st_.recent[DEVICE, 2] = older = _recent()  # an older press is remembered, not the one the ring listens for
    eff = Effects()
    tell_ring(st_, inc, T0, eff)
    assert (eff.downlinks, eff.durable) == ([], [])
    assert older.ack_state is None


def test_a_press_heard_over_ble_only_owes_the_answer_to_its_first_lora_copy() -> None:
    recent = _recent({"gw-ble": ("ble", -50.0)})
    inc = incident(State.ACCEPTED, accepted_by=("anna",))
    _, eff = _told(inc, recent)
    assert (eff.downlinks, eff.durable) == ([], [])
    # Owed as if sent REACK_MS ago, so the next LoRa copy is answered at once rather than taken for a copy
    # of one already answered.
    assert (recent.ack_state, recent.acked_ms) == (ACK_HELP_ON_THE_WAY, T0 + 9_000 - REACK_MS)
    assert recent.acks == 0
    assert REACK_MS == 2_000


def test_a_counter_out_of_ack_numbers_is_told_nothing_and_nothing_is_logged() -> None:
    recent = _recent(acks=ACK_SEQ_MAX + 1)
    st_, eff = _told(incident(State.RESOLVED), recent)
    assert (eff.downlinks, eff.durable) == ([], [])
    assert st_.acks_withheld == 1
