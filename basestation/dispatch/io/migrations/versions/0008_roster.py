"""The roster at run time: accounts with hashed tokens, removal that keeps history, teams and patrol zones.

- ``accounts``: the people who sign in (operators and responders), each with the SHA-256 of their token only.
- ``removed_ms`` on devices, responders and gateways: a removed entry leaves every list and its frames or
  sign-ins are refused, but the row stays so that the incidents that name it still read.
- ``responders.team``: a responder's team, which a patrol zone may be bound to.
- ``zones``: patrol zones, polygons on the map, with the responders and teams bound to each.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    for table in ("devices", "responders", "gateways"):
        op.add_column(table, sa.Column("removed_ms", sa.BigInteger, nullable=True))
    op.add_column("responders", sa.Column("team", sa.String(64), nullable=True))
    op.create_table(
        "zones",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("polygon", sa.JSON, nullable=False),
        sa.Column("responders", sa.JSON, nullable=False),
        sa.Column("teams", sa.JSON, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("zones")
    op.drop_column("responders", "team")
    for table in ("gateways", "responders", "devices"):
        op.drop_column(table, "removed_ms")
    op.drop_index("accounts_token", "accounts")
    op.drop_table("accounts")
