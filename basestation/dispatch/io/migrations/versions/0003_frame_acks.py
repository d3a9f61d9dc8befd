"""For each accepted frame: the number of ACKs sent for it, the next ACK's seq, which never repeats (SPEC 6); and
when it was pressed by its first copy's gateway clock, which tells retries from recordings (SPEC 10a).

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
        batch.add_column(sa.Column("press_rx_ms", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("frames") as batch:
        batch.drop_column("press_rx_ms")
        batch.drop_column("acks")
