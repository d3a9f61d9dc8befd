"""uvicorn for the dispatch app: it ends the live streams before it waits for open responses to finish.

A live stream never ends on its own, and uvicorn's shutdown waits for every open response: without this, a
stopping service would wait for every dashboard to hang up.
"""

import socket

import uvicorn

from basestation.dispatch.io.bus import Bus


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, streams: Bus) -> None:
        super().__init__(config)
        self.streams = streams

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.streams.close()
        await super().shutdown(sockets)
