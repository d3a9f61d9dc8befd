"""Walk-me-home requests without a key ring: the requests with their references, the numbers operators blocked,
and an operator's override of the page's hours.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("walk_override")
    op.drop_table("blocked_numbers")
    op.drop_index("walk_requests_incident", "walk_requests")
    op.drop_index("walk_requests_client", "walk_requests")
    op.drop_index("walk_requests_phone", "walk_requests")
    op.drop_table("walk_requests")
