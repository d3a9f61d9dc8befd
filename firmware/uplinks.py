"""Uplinks on air: each counter's copies over BLE and LoRa, and the ACKs that stop them (docs/keyring.md, "Alarm
transmission"; SPEC 6).

An :class:`Outgoing` is one counter being sent. :class:`Uplinks` takes counters from flash, frames each copy with
its age and the battery byte fresh, sends one BLE burst per attempt and one LoRa copy on the channel walk
(channels.py) as soon as the duty cycle (airtime.py) leaves a sub-band open, keeps the receiver on while an ACK may
come, and matches an ACK to the uplink it answers. Which uplinks are open, and what an ACK means to the wearer,
belong to the callers (alarm.py, supervision.py); they pass their uplinks in, in the order they are served.
"""

from firmware import channels, retry
from firmware.airtime import UPLINK_CHANNELS, time_on_air_ms
from firmware.const import const
from firmware.counter_store import CounterExhaustedError
from firmware.ticks import earlier, ticks_add, ticks_diff
from protocol import ack, uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_LOW_BATTERY, FLAG_ACK_REQUESTED, FLAG_BOOT, UPLINK_SIZE
from protocol.errors import FrameError

_AGE_MAX = const(0xFFFF)


class Outgoing:
    """One counter being sent: its copies, its retry state and the ACK it got."""

    __slots__ = (
        "aged",
        "attempt",
        "aux",
        "counter",
        "delays",
        "event",
        "flags",
        "give_up_at",
        "lora_pending",
        "max_attempts",
        "next_at",
        "raised",
        "seq",
        "state",
    )

    def __init__(self, counter: int, event: int, aux: int, flags: int, now: int, max_attempts: int, delays):
        self.counter = counter
        self.event = event
        self.aux = aux
        self.flags = flags
        self.raised = now
        self.aged = False  # its age reached the field's top: it stays there (see Uplinks._frame)
        self.max_attempts = max_attempts
        self.delays = delays
        self.attempt = 0
        self.next_at = now  # first copy at once
        self.give_up_at = None
        self.lora_pending = False
        self.state = 0  # the last verified ACK state the wearer was told of
        self.seq = -1  # the highest ACK seq applied: an older or repeated ACK changes nothing (SPEC 6)


class Uplinks:
    def __init__(self, hw, cfg, keys, store, ledger, battery, boot: bool) -> None:
        self._hw = hw
        self._cfg = cfg
        self._keys = keys
        self._store = store
        self._ledger = ledger
        self._battery = battery  # supervision.Battery: its last reading goes into every frame
        self.toa_ms = time_on_air_ms(UPLINK_SIZE, cfg.lora_sf)
        self.boot = boot  # a cold boot: the next uplink says so (FLAG_BOOT)
        # The channel order of the walk's current round (firmware/channels.py), kept so that next_deadline,
        # called at every step, does not shuffle again; nothing of it needs to survive deep sleep.
        self._order = bytearray(channels.N_CHANNELS)
        self._order_round = -1
        self._ble_until = None
        self._tx_end = None
        self._rx_until = None  # a receive window after an uplink that asked for an ACK
        self._rx_on = False

    def idle(self) -> bool:
        return self._ble_until is None and self._tx_end is None and not self._rx_on

    def take(self, now: int) -> int:
        """A new counter, or 0 when they are used up (SPEC 7.2: stop sending; re-provision with a new key)."""
        try:
            return self._store.take()
        except CounterExhaustedError:
            self._hw.tell(now, "counter", "exhausted")
            return 0

    def flags(self, ack_requested: bool) -> int:
        flags = FLAG_ACK_REQUESTED if ack_requested else 0
        if self.boot:
            self.boot = False
            flags |= FLAG_BOOT
        return flags

    # ---- deadlines ----------------------------------------------------------------------------------

    def next_deadline(self, best):  # -> int | None
        """The earlier of ``best`` and the deadlines of the radio itself."""
        return earlier(earlier(earlier(best, self._ble_until), self._tx_end), self._rx_until)

    def next_copy(self, now: int, out, best):  # -> int | None
        """The earlier of ``best`` and the next thing due for ``out`` (None: none open)."""
        if out is None:
            return best
        return earlier(earlier(earlier(best, out.next_at), out.give_up_at), self._lora_at(out, now))

    def _lora_at(self, out, now: int):
        if not out.lora_pending or self._tx_end is not None:
            return None
        return ticks_add(now, self._pick(out, now)[1])

    def _pick(self, out, now: int):  # -> (freq_hz, wait_ms)
        # RP002 3.3: a pseudo-random channel among those whose sub-band is open, drawn from the counter (in flash)
        # rather than from state in RTC memory, so a wake from deep sleep does not restart at one channel.
        pos = channels.position(out.counter, out.attempt)
        rnd = pos // channels.N_CHANNELS
        if rnd != self._order_round:
            channels.order(self._cfg.device_id, rnd, self._order)
            self._order_round = rnd
        return self._ledger.pick(UPLINK_CHANNELS, now, pos % channels.N_CHANNELS, self._order)

    # ---- sending ------------------------------------------------------------------------------------

    def _frame(self, out, now: int) -> bytes:
        age = ticks_diff(now, out.raised) // 1000
        # Ticks wrap: 2^29 ms (6.2 days) on, a difference turns negative, and after twice that small again. An
        # alarm still unanswered by then is as old as the field can say, and stays so.
        if out.aged or age < 0 or age >= _AGE_MAX:
            out.aged, age = True, _AGE_MAX
        up = uplink.Uplink(out.counter, self._cfg.device_id, out.event, self._battery.pct, out.aux, age, out.flags)
        return uplink.encode(self._keys, up)

    def attempt(self, out, now: int) -> bool:
        """Start the attempt that is due, if one is: the BLE burst now, the LoRa copy by ``send_lora``."""
        if out.next_at is None or ticks_diff(now, out.next_at) < 0:
            return False
        cfg = self._cfg
        out.attempt += 1
        beat = out.event in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY)
        burst = cfg.heartbeat_ble_ms if beat else cfg.ble_burst_ms
        if burst > 0:
            # One burst per attempt; a later attempt's frame replaces the advert in flight.
            self._hw.ble.advertise(self._frame(out, now))
            until = ticks_add(now, burst)
            if self._ble_until is None or ticks_diff(until, self._ble_until) > 0:
                self._ble_until = until
        out.lora_pending = True
        if retry.more(out.max_attempts, out.attempt):
            out.next_at = ticks_add(now, retry.delay_ms(out.delays, out.attempt, out.counter))
        else:
            out.next_at = None
        return True

    def send_lora(self, out, now: int) -> None:
        """The attempt's LoRa copy, once the modem is free and the duty cycle leaves a channel open."""
        if not out.lora_pending or self._tx_end is not None:
            return  # nothing to send, or the modem is busy: the next step tries again
        freq, wait = self._pick(out, now)
        if wait > 0:
            return
        cfg = self._cfg
        frame = self._frame(out, now)  # age is fresh for this copy
        self._ledger.record(freq, self.toa_ms, now)
        self._rx_on = False
        self._hw.lora.send(frame, freq, cfg.lora_sf)
        self._tx_end = ticks_add(now, int(self.toa_ms + 0.999))
        out.lora_pending = False
        if out.next_at is None and out.state == 0:
            # Last copy: give the ACK a receive window after it, then give up.
            out.give_up_at = ticks_add(self._tx_end, cfg.rx_window_ms if out.flags & FLAG_ACK_REQUESTED else 0)
        if out.flags & FLAG_ACK_REQUESTED:
            self._rx_until = ticks_add(self._tx_end, cfg.rx_window_ms)

    def end_burst(self, now: int) -> None:
        if self._ble_until is not None and ticks_diff(now, self._ble_until) >= 0:
            self._ble_until = None
            self._hw.ble.stop()

    # ---- receiving ----------------------------------------------------------------------------------

    def expire(self, now: int) -> None:
        """End the transmission and the receive window whose time is up."""
        if self._tx_end is not None and ticks_diff(now, self._tx_end) >= 0:
            self._tx_end = None
        if self._rx_until is not None and ticks_diff(now, self._rx_until) >= 0:
            self._rx_until = None

    def recv(self):  # -> bytes | None
        """A frame the receiver heard, or None (also when it is off)."""
        if not self._rx_on:
            return None
        frame = self._hw.lora.recv()
        return None if frame is None else bytes(frame)

    def set_receiver(self, wanted: bool) -> None:
        """Receive while ``wanted`` (an alarm or cancel is open) or a receive window is, once the modem is free."""
        if self._tx_end is not None:
            return
        want = wanted or self._rx_until is not None
        if want and not self._rx_on:
            self._hw.lora.listen(self._cfg.rx_freq_hz, self._cfg.rx_sf)
        elif not want and self._rx_on:
            self._hw.lora.sleep()
        self._rx_on = want

    def match(self, frame: bytes, outs):  # -> (Outgoing, ack state) | None
        """The open uplink a verified, newer ACK answers, and its state; it sends no more copies."""
        for out in outs:
            if out is None:
                continue
            try:
                a = ack.decode(self._keys, frame, out.counter)
            except FrameError:
                continue  # not for this uplink, or forged: only a verified ACK may change anything
            if a.seq <= out.seq:
                return None  # SPEC 6: an older or repeated ACK (a replay, a late copy) changes nothing
            out.seq = a.seq
            out.next_at = None  # heard: no more copies
            out.lora_pending = False
            out.give_up_at = None
            return out, a.state
        return None
