"""Indexes for the incident list's pages and filters, and for retention: the list pages by (opened_ms, id), a ring's
incidents are found by device, and retention finds the incidents not changed since its cut-off.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("incidents_opened_id", "incidents", ["opened_ms", "id"])
    op.create_index("incidents_device", "incidents", ["device_id", "opened_ms"])
    op.create_index("incidents_updated", "incidents", ["updated_ms"])


def downgrade() -> None:
    op.drop_index("incidents_updated", "incidents")
    op.drop_index("incidents_device", "incidents")
    op.drop_index("incidents_opened_id", "incidents")
