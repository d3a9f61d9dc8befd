"""Started: for a helper with start() and stop(), so that a ``with`` block runs it and stops it, even on error;
and ``stop_process``, the stop of a helper that runs a program."""

import subprocess
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


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """Ends ``proc`` if it still runs: SIGTERM, then SIGKILL if it has not exited ``timeout_s`` later."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
