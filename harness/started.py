"""Started: for a helper with start() and stop(), so that a ``with`` block runs it and stops it, even on error."""

from typing import Self


class Started:
    """``with Helper(...) as h:`` calls ``h.start()`` on the way in and ``h.stop()`` on the way out."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
