"""The gateway relay: radio sources in, MQTT out, a disk spool in between so no heard frame is lost."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("nightwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"
