"""The first schema: devices, frames, incidents and their log, receptions, notices, responders, gateways.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    )
    op.create_table(
        "frames",
        sa.Column("device_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("counter", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("rx_ms", sa.BigInteger, nullable=False),
        sa.Column("incident_id", sa.String(40), nullable=True),
        sa.Column("frame", sa.LargeBinary, nullable=True),
    )
    op.create_index("frames_rx", "frames", ["rx_ms"])
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
    )
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("changed_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("gateways", "responders", "notices", "receptions", "incident_events", "incidents", "frames"):
        op.drop_table(table)
    op.drop_table("devices")
