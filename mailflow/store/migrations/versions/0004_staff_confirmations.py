"""staff confirmations: unauthenticated staff commands wait for a confirming reply

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
        "staff_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_inbox_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"]),
        sa.ForeignKeyConstraint(["used_inbox_id"], ["inbox.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_confirmations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_confirmations_address"), ["address"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_confirmations_address"))
    op.drop_table("staff_confirmations")
