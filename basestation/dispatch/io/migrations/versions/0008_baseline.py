"""The schema of the first release, from an empty database.

The tables came in eight steps while the service was written (0001-0008); none of the steps was ever released, so
they are folded into this one. It keeps the last step's revision id, so that a database already made by them is
at the head and is left as it is. Columns that a step added to an existing table stay at the end of it, where
the step put them: both ways of making the database give it the same tables, column for column.

Revision ID: 0008
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "zones",
    "accounts",
    "walk_override",
    "blocked_numbers",
    "walk_requests",
    "hook_deliveries",
    "dead_letters",
    "push_subscriptions",
    "gateways",
    "responders",
    "notices",
    "receptions",
    "incident_events",
    "incidents",
    "frames",
    "devices",
)


def upgrade() -> None:
    _radio()
    _incidents()
    _people()
    _requests_without_a_ring()


def _radio() -> None:
    """Key rings, the frames they sent, and the gateways that heard them."""
    op.create_table(
        "devices",
        sa.Column("device_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_key", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.String(120), nullable=True),
        sa.Column("highest", sa.BigInteger, nullable=False),
        sa.Column("bitmap", sa.BigInteger, nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=True),
        sa.Column("battery", sa.Integer, nullable=True),
        sa.Column("heartbeat_min", sa.Integer, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("removed_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "frames",
        sa.Column("device_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("counter", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("rx_ms", sa.BigInteger, nullable=False),
        sa.Column("incident_id", sa.String(40), nullable=True),
        sa.Column("frame", sa.LargeBinary, nullable=True),
        sa.Column("acks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("press_rx_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("frames_rx", "frames", ["rx_ms"])
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("changed_ms", sa.BigInteger, nullable=False),
        sa.Column("removed_ms", sa.BigInteger, nullable=True),
    )
    # Messages whose handling failed in a way a redelivery cannot mend, kept with the error for operators.
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.String(500), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("dead_letters_at", "dead_letters", ["at_ms"])


def _incidents() -> None:
    """Incidents, what happened to each, where their frames were heard, and the notices about the system."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("device_id", sa.BigInteger, nullable=False),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("opened_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.JSON, nullable=False),
    )
    op.create_index("incidents_state", "incidents", ["state"])
    op.create_index("incidents_opened", "incidents", ["opened_ms"])
    # The incident log's pages, a ring's history and retention's sweep (docs/dispatch.md, "The incident log").
    op.create_index("incidents_opened_id", "incidents", ["opened_ms", "id"])
    op.create_index("incidents_device", "incidents", ["device_id", "opened_ms"])
    op.create_index("incidents_updated", "incidents", ["updated_ms"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(40), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("incident_events_incident", "incident_events", ["incident_id", "id"])
    op.create_table(
        "receptions",
        sa.Column("incident_id", sa.String(40), primary_key=True),
        sa.Column("gateway_id", sa.String(64), primary_key=True),
        sa.Column("rx_time_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("radio", sa.String(8), nullable=False),
        sa.Column("rssi", sa.Float, nullable=True),
        sa.Column("snr", sa.Float, nullable=True),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )


def _people() -> None:
    """Responders, the accounts that sign in (a token's SHA-256 only), their phones' push endpoints, the zones."""
    op.create_table(
        "responders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("on_duty", sa.Boolean, nullable=False),
        sa.Column("shift", sa.String(16), nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("position_ms", sa.BigInteger, nullable=True),
        sa.Column("removed_ms", sa.BigInteger, nullable=True),
        sa.Column("team", sa.String(64), nullable=True),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("responder_id", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=True),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
        sa.Column("revoked_by", sa.String(120), nullable=True),
    )
    op.create_index("accounts_token", "accounts", ["token_sha256"], unique=True)
    op.create_table(
        "push_subscriptions",
        sa.Column("endpoint", sa.String(1024), primary_key=True),
        sa.Column("responder_id", sa.String(64), nullable=False),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("polygon", sa.JSON, nullable=False),
        sa.Column("responders", sa.JSON, nullable=False),
        sa.Column("teams", sa.JSON, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )


def _requests_without_a_ring() -> None:
    """Walk-me-home requests from the public page and the telephony hook, the numbers operators blocked, an
    operator's override of the page's hours, and the hook's deliveries (a provider's id to the request it opened,
    so that a delivery sent again opens nothing new)."""
    op.create_table(
        "walk_requests",
        sa.Column("reference", sa.String(16), primary_key=True),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("walk_requests_phone", "walk_requests", ["phone", "created_ms"])
    op.create_index("walk_requests_client", "walk_requests", ["client", "created_ms"])
    op.create_index("walk_requests_incident", "walk_requests", ["incident_id"])
    op.create_table(
        "blocked_numbers",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("by", sa.String(64), nullable=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "walk_override",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("until_ms", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(64), nullable=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "hook_deliveries",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("delivery_id", sa.String(100), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("hook_deliveries_created", "hook_deliveries", ["created_ms"])


def downgrade() -> None:
    # Dropping a table drops its indexes with it.
    for table in TABLES:
        op.drop_table(table)
