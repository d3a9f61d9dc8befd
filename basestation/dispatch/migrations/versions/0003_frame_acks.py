"""For each accepted frame: the number of ACKs sent for it, the next ACK's seq, which never repeats (SPEC 6); and
the gateway time of its first copy, which tells later copies from recordings after a restart (SPEC 10a).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("frames") as batch:
        batch.add_column(sa.Column("acks", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_rx_ms", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("frames") as batch:
        batch.drop_column("first_rx_ms")
        batch.drop_column("acks")
