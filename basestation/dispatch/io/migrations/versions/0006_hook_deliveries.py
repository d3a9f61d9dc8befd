"""The telephony and SMS hook's deliveries: a provider's message or call id to the request it opened, so that a
delivery sent again opens nothing new.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_deliveries",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("delivery_id", sa.String(100), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("hook_deliveries_created", "hook_deliveries", ["created_ms"])


def downgrade() -> None:
    op.drop_index("hook_deliveries_created", "hook_deliveries")
    op.drop_table("hook_deliveries")
