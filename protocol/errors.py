"""The codec's one error type. Every rejection carries one of the reasons listed in SPEC 9."""


class FrameError(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason + ": " + detail if detail else reason)
        self.reason = reason
        self.detail = detail
