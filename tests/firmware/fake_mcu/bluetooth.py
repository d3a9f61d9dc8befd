"""Fake of the ESP32 port's ``bluetooth`` module: records what the advertiser asks of it."""

ADVERTS = []
STARTS = []  # one entry per power-up of the stack: each gets a new private address


class BLE:
    def __init__(self):
        self.on = False
        self.cfg = {}

    def active(self, on=None):
        if on is None:
            return self.on
        if on and not self.on:
            STARTS.append(1)
        self.on = on
        return None

    def config(self, **kwargs):
        if not self.on:
            raise OSError("BLE not active")
        self.cfg.update(kwargs)

    def gap_advertise(self, interval_us, adv_data=None, connectable=True):
        if not self.on:
            raise OSError("BLE not active")
        ADVERTS.append((interval_us, None if adv_data is None else bytes(adv_data), connectable, dict(self.cfg)))
