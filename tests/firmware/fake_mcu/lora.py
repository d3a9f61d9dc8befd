"""Fake of micropython-lib's ``lora`` SX1262 driver (low-level API): enforces its call order, records sends."""

SENT = []


class SX1262:
    def __init__(self, spi, cs, busy=None, dio1=None, reset=None, lora_cfg=None):
        self.cfg = dict(lora_cfg or {})
        self.sending = False
        self.prepared = None
        self.receiving = False
        self.rx = []
        SX1262.last = self

    def configure(self, cfg):
        if self.receiving:
            raise RuntimeError("Receiving")  # as the real driver does
        self.cfg.update(cfg)

    def standby(self):
        self.receiving = False

    def prepare_send(self, packet):
        if self.sending:
            raise RuntimeError("prepare_send during a send")
        self.prepared = bytes(packet)

    def start_send(self):
        if self.prepared is None:
            raise RuntimeError("start_send without prepare_send")
        SENT.append((self.cfg["freq_khz"], self.cfg["sf"], self.prepared))
        self.prepared = None
        self.sending = True
        return True

    def poll_send(self):
        if self.sending:
            self.sending = False  # the fake's sends finish at the first poll
            return 1234
        return False

    def start_recv(self, timeout_ms=None, continuous=False, rx_length=0xFF):
        if self.sending:
            raise RuntimeError("start_recv before poll_send saw the send finish")
        self.receiving = continuous
        return True

    def poll_recv(self, rx_packet=None):
        if self.rx:
            return bytearray(self.rx.pop(0))
        return self.receiving

    def sleep(self):
        self.receiving = False
