"""outbox recipients: one indexed row per recipient, for the loop limits

Revision ID: 0010
Revises: 0009
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "outbox_recipients",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id", "address"),
    )
    op.create_index("ix_outbox_recipients_address", "outbox_recipients", ["address", "outbox_id"])
    # Existing rows get theirs, so the limits keep counting mail sent before the upgrade.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, recipients FROM outbox")).all()
    for outbox_id, recipients in rows:
        if isinstance(recipients, str):
            recipients = json.loads(recipients)
        addresses = sorted({str(a).lower() for a in recipients or []})
        if addresses:
            conn.execute(
                table.insert(), [{"outbox_id": outbox_id, "address": a} for a in addresses]
            )


def downgrade() -> None:
    op.drop_index("ix_outbox_recipients_address", table_name="outbox_recipients")
    op.drop_table("outbox_recipients")
