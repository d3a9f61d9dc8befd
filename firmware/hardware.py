"""The hardware layer the firmware logic sees: a holder of small objects, built by ``board_esp32`` on the
device and by ``fakes`` on a host. Nothing here imports ``machine`` or ``bluetooth``.

Interfaces (duck-typed; tick arguments are ``ticks_ms`` values):

- ``edges``: :class:`EdgeQueue`, filled by the button interrupt handler.
- ``led.set(colour)``: a colour from ``feedback`` (OFF, RED, GREEN, AMBER, BLUE).
- ``vibe.set(on)``, ``buzzer.set(hz)`` (0 = silent).
- ``ble.advertise(frame)`` starts non-connectable adverts carrying ``frame`` at the board's burst interval;
  ``ble.stop()``.
- ``lora.send(frame, freq_hz, sf)`` starts a transmission and returns at once; ``lora.listen(freq_hz, sf)``
  receives continuously; ``lora.recv()`` returns a received payload or None; ``lora.sleep()``.
- ``battery.percent()``: 0..100, or 255 when unknown.
- ``storage.read(name)`` -> bytes or None, ``storage.write(name, data)``: small records in flash.
- ``note(now, kind, value)`` or None: a trace hook for the host runner. It never receives key material.
"""


class EdgeQueue:
    """Button edges from the interrupt handler to the main loop, without allocating in the handler.

    The handler calls ``push(ticks, level)``: two stores into preallocated lists (small ints do not
    allocate). When full, newer edges are dropped and counted: the oldest edges start the press.
    """

    def __init__(self, size: int = 32) -> None:
        self._t = [0] * size
        self._lvl = bytearray(size)
        self._size = size
        self._head = 0
        self._len = 0
        self.dropped = 0
        self.t = 0  # time of the edge last returned by pop()

    def push(self, t: int, level: int) -> None:
        if self._len == self._size:
            self.dropped += 1
            return
        i = (self._head + self._len) % self._size
        self._t[i] = t
        self._lvl[i] = level
        self._len += 1

    def pop(self) -> int:
        """The oldest edge's level (1 = pressed), its time in ``.t``; -1 when empty."""
        if not self._len:
            return -1
        i = self._head
        self.t = self._t[i]
        self._head = (i + 1) % self._size
        self._len -= 1
        return self._lvl[i]

    def __len__(self) -> int:
        return self._len


class Hardware:
    __slots__ = ("battery", "ble", "buzzer", "edges", "led", "lora", "note", "storage", "vibe")

    def __init__(self, edges, led, vibe, buzzer, ble, lora, battery, storage, note=None) -> None:
        self.edges = edges
        self.led = led
        self.vibe = vibe
        self.buzzer = buzzer
        self.ble = ble
        self.lora = lora
        self.battery = battery
        self.storage = storage
        self.note = note

    def tell(self, now: int, kind: str, value) -> None:
        """Report what the device did to the host runner's record (``note``); on the device there is none."""
        if self.note is not None:
            self.note(now, kind, value)
