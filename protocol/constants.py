"""Numbers fixed by SPEC.md. Plain module constants: no enum at run time, so MicroPython imports this as is."""

PROTOCOL_VERSION = 1

# First byte of every frame: protocol version in the high nibble, frame type in the low nibble (SPEC 2).
TYPE_UPLINK = 0
TYPE_ACK = 1
VERSION_UPLINK = (PROTOCOL_VERSION << 4) | TYPE_UPLINK  # 0x10
VERSION_ACK = (PROTOCOL_VERSION << 4) | TYPE_ACK  # 0x11

DIR_UP = 0
DIR_DOWN = 1

# Uplink layout (SPEC 3): version | pseudonym | encrypted body | MIC.
UPLINK_SIZE = 24
PSEUDONYM_SIZE = 6
BODY_SIZE = 10
UPLINK_MIC_SIZE = 7
PSEUDONYM_OFFSET = 1
BODY_OFFSET = PSEUDONYM_OFFSET + PSEUDONYM_SIZE  # 7
UPLINK_MIC_OFFSET = BODY_OFFSET + BODY_SIZE  # 17

# Downlink ACK layout (SPEC 6): version | tag | seq | encrypted body | MIC.
ACK_SIZE = 16
ACK_TAG_SIZE = 4
ACK_TAG_OFFSET = 1
ACK_SEQ_OFFSET = 5
ACK_BODY_OFFSET = 6
ACK_BODY_SIZE = 2
ACK_MIC_OFFSET = 8
ACK_MIC_SIZE = 8

COUNTER_MIN = 1
COUNTER_MAX = 0xFFFFFFFF
DEVICE_ID_MAX = 0xFFFFFFFF

# Events (SPEC 4): low nibble of body byte 0.
EVENT_SOS = 1
EVENT_ESCORT = 2
EVENT_CANCEL = 3
EVENT_DURESS = 4
EVENT_HEARTBEAT = 5
EVENT_LOW_BATTERY = 6
EVENT_TEST = 7

EVENT_NAMES = {
    EVENT_SOS: "sos",
    EVENT_ESCORT: "escort",
    EVENT_CANCEL: "cancel",
    EVENT_DURESS: "duress",
    EVENT_HEARTBEAT: "heartbeat",
    EVENT_LOW_BATTERY: "low_battery",
    EVENT_TEST: "test",
}
EVENT_CODES = {name: code for code, name in EVENT_NAMES.items()}

# Flags: high nibble of body byte 0.
FLAG_ACK_REQUESTED = 0x1
FLAG_BOOT = 0x2
FLAGS_DEFINED = FLAG_ACK_REQUESTED | FLAG_BOOT

BATTERY_UNKNOWN = 0xFF

# ACK states (SPEC 6).
ACK_RECEIVED = 1
ACK_HELP_ON_THE_WAY = 2
ACK_CANCELLED = 3
ACK_CLOSED = 4  # the alarm is over: a responder or operator closed it (docs/lifecycle.md)
ACK_UNAVAILABLE = 5  # nobody can come now: call 112 (docs/lifecycle.md)
ACK_STATE_NAMES = {
    ACK_RECEIVED: "received",
    ACK_HELP_ON_THE_WAY: "help_on_the_way",
    ACK_CANCELLED: "cancelled",
    ACK_CLOSED: "closed",
    ACK_UNAVAILABLE: "unavailable",
}
# An ACK's seq never wraps: after this one the server sends no more ACKs for that counter (SPEC 6).
ACK_SEQ_MAX = 255
ACK_STATE_CODES = {name: code for code, name in ACK_STATE_NAMES.items()}

# Key derivation labels (SPEC 5.1).
LABEL_MIC = 0x01
LABEL_ENC = 0x02
LABEL_ID = 0x03

# Domain bytes that open each 16-byte AES input block (SPEC 5).
BLOCK_PSEUDONYM = 0x50  # "P"
BLOCK_KEYSTREAM = 0x41  # "A"
BLOCK_MIC = 0x42  # "B"

# Server windows (SPEC 7, 8).
LOOKAHEAD = 16
LOOKBEHIND = 8
REPLAY_WINDOW = 32
RECOVERY_HORIZON = 4096
# Device side (SPEC 7.1): a reboot skips at most one reserved block of counters.
COUNTER_BLOCK = 8
ACK_REQUEST_GAP = 8

# Reasons a frame is rejected (SPEC 9).
REASON_LENGTH = "length"
REASON_VERSION = "version"
REASON_UNKNOWN_DEVICE = "unknown_device"
REASON_MIC = "mic"
REASON_REPLAY = "replay"
REASON_TOO_OLD = "too_old"
REASON_EVENT = "event"
REASON_FIELD = "field"
REASON_DEVICE = "device"
REASONS = (
    REASON_LENGTH,
    REASON_VERSION,
    REASON_UNKNOWN_DEVICE,
    REASON_MIC,
    REASON_REPLAY,
    REASON_TOO_OLD,
    REASON_EVENT,
    REASON_FIELD,
    REASON_DEVICE,
)
