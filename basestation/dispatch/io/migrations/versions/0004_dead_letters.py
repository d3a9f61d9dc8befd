"""Messages set aside: an uplink or gateway status whose handling failed in a way a redelivery cannot mend, kept
with its error for operators, so that it is acknowledged and stops holding up the messages behind it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.String(500), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("dead_letters_at", "dead_letters", ["at_ms"])


def downgrade() -> None:
    op.drop_index("dead_letters_at", "dead_letters")
    op.drop_table("dead_letters")
