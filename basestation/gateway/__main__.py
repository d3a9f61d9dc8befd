"""``python -m basestation.gateway``: the same command as ``nightwatch gateway``."""

from basestation.gateway.cli import main

main()
