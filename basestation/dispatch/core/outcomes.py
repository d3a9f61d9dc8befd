"""The named outcomes of the uplink pipeline. Every expected stop is one of these, counted, never an exception."""

from enum import StrEnum


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # a new frame, acted on
    DUPLICATE = "duplicate"  # another copy of a frame already accepted: adds reception data only
    REPLAY = "replay"  # a counter accepted long ago, or below the replay window
    BAD_MIC = "bad_mic"
    UNKNOWN_DEVICE = "unknown_device"  # queued for the recovery sweep before it is given up
    MALFORMED_ENVELOPE = "malformed_envelope"
    MALFORMED_FRAME = "malformed_frame"  # wrong length or version
    INVALID_BODY = "invalid_body"  # the MIC held but a field is out of range: a firmware fault, logged loudly
    RATE_LIMITED = "rate_limited"  # over a device's budget: supervision dropped; alarms folded, counted, answered
