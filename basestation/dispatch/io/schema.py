"""Tables of the dispatch store. One definition serves SQLite and PostgreSQL; migrations/ creates them."""

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

devices = Table(
    "devices",
    metadata,
    Column("device_id", BigInteger, primary_key=True, autoincrement=False),
    Column("root_key", LargeBinary, nullable=False),
    Column("label", String(120), nullable=True),
    Column("highest", BigInteger, nullable=False, default=0),
    Column("bitmap", BigInteger, nullable=False, default=0),
    Column("last_seen_ms", BigInteger, nullable=True),
    Column("battery", Integer, nullable=True),
    Column("heartbeat_min", Integer, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # A removed ring's frames are refused; its row stays so that its incidents still name it (migration 0008).
    Column("removed_ms", BigInteger, nullable=True),
)

# One row per accepted (device, counter): the authority that a counter is accepted once, even across replicas.
frames = Table(
    "frames",
    metadata,
    Column("device_id", BigInteger, primary_key=True, autoincrement=False),
    Column("counter", BigInteger, primary_key=True, autoincrement=False),
    Column("event", String(16), nullable=False),
    Column("rx_ms", BigInteger, nullable=False),
    Column("incident_id", String(40), nullable=True),
    Column("frame", LargeBinary, nullable=True),  # kept for incidents and cancels: answered after a restart
    Column("acks", Integer, nullable=False, server_default="0"),  # ACKs sent for it: the next seq (SPEC 6)
    Column("press_rx_ms", BigInteger, nullable=True),  # the press, by the first copy's gateway clock (SPEC 10a)
)
Index("frames_rx", frames.c.rx_ms)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("device_id", BigInteger, nullable=False),
    Column("counter", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("forced", Boolean, nullable=False, default=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("doc", JSON, nullable=False),  # the full snapshot the API and the stream show
)
Index("incidents_state", incidents.c.state)
Index("incidents_opened", incidents.c.opened_ms)
# The incident list pages by (opened_ms, id), newest first; a ring's incidents; retention's cut-off (migration 0007).
Index("incidents_opened_id", incidents.c.opened_ms, incidents.c.id)
Index("incidents_device", incidents.c.device_id, incidents.c.opened_ms)
Index("incidents_updated", incidents.c.updated_ms)

# Append-only audit trail.
incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("data", JSON, nullable=False),
)
Index("incident_events_incident", incident_events.c.incident_id, incident_events.c.id)

# Where an incident's frames were heard: location data, so kept only for incidents and purged with them.
receptions = Table(
    "receptions",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("gateway_id", String(64), primary_key=True),
    Column("rx_time_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("radio", String(8), nullable=False),
    Column("rssi", Float, nullable=True),
    Column("snr", Float, nullable=True),
)

notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("data", JSON, nullable=False),
)

# Messages set aside (failures.py): acknowledged to the broker, kept here with their error for operators.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(256), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("error", String(500), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)
Index("dead_letters_at", dead_letters.c.at_ms)

responders = Table(
    "responders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("language", String(2), nullable=False),
    Column("skills", JSON, nullable=False),
    Column("on_duty", Boolean, nullable=False, default=False),
    Column("shift", String(16), nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("position_ms", BigInteger, nullable=True),
    Column("team", String(64), nullable=True),  # a patrol zone may be bound to a team (zones)
    Column("removed_ms", BigInteger, nullable=True),
)

gateways = Table(
    "gateways",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("online", Boolean, nullable=False, default=False),
    Column("changed_ms", BigInteger, nullable=False),
    Column("removed_ms", BigInteger, nullable=True),
)

# A responder's browsers, for Web Push. The endpoint is a capability URL; the keys encrypt what goes to it.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("endpoint", String(1024), primary_key=True),
    Column("responder_id", String(64), nullable=False),
    Column("p256dh", String(200), nullable=False),
    Column("auth", String(64), nullable=False),
)

# Walk-me-home requests from the public page and the telephony hook (walk.py): the reference the person follows
# their request by, the hash of the secret their browser holds, and what the abuse limits count.
walk_requests = Table(
    "walk_requests",
    metadata,
    Column("reference", String(16), primary_key=True),
    Column("incident_id", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("client", String(64), nullable=True),  # the requester's network address (None from the hook)
    Column("source", String(16), nullable=False),
    Column("lang", String(2), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
Index("walk_requests_phone", walk_requests.c.phone, walk_requests.c.created_ms)
Index("walk_requests_client", walk_requests.c.client, walk_requests.c.created_ms)
Index("walk_requests_incident", walk_requests.c.incident_id)

# Numbers operators blocked from the walk-me-home page and the hook.
blocked_numbers = Table(
    "blocked_numbers",
    metadata,
    Column("phone", String(20), primary_key=True),
    Column("reason", String(200), nullable=True),
    Column("by", String(64), nullable=True),
    Column("at_ms", BigInteger, nullable=False),
)

# An operator's word on the walk-me-home page's hours (walk.Override): one row at most.
walk_override = Table(
    "walk_override",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(8), nullable=False),
    Column("until_ms", BigInteger, nullable=False),
    Column("by", String(64), nullable=True),
    Column("at_ms", BigInteger, nullable=False),
)

# Requests taken through the telephony and SMS hook, by the provider's own message or call id: a provider that
# sends one again (it retries when it did not hear our answer) gets the same reference, not a second incident.
# ``reference`` is None while the first delivery is being taken.
hook_deliveries = Table(
    "hook_deliveries",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("delivery_id", String(100), primary_key=True),
    Column("reference", String(16), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)
Index("hook_deliveries_created", hook_deliveries.c.created_ms)

# Who signs in: operators and responders added at run time (accounts.py). Only the SHA-256 of a token is kept, so
# the database alone signs nobody in. A revoked account keeps its row: the audit trail names it.
accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("role", String(16), nullable=False),  # operator or responder
    Column("name", String(120), nullable=False),
    Column("responder_id", String(64), nullable=True),  # a responder account's responder
    Column("phone", String(32), nullable=True),  # to call them on, for the desk
    Column("token_sha256", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(120), nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("revoked_by", String(120), nullable=True),
)
Index("accounts_token", accounts.c.token_sha256, unique=True)

# Patrol zones: a polygon of [lat, lon] points, and the responders and teams bound to it (zones.py).
zones = Table(
    "zones",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("polygon", JSON, nullable=False),
    Column("responders", JSON, nullable=False),
    Column("teams", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
