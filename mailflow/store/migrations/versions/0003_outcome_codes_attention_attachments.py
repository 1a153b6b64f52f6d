"""outcome codes, the needs-a-person queue, activity attachments

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
    with op.batch_alter_table("message_facts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_code", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_message_facts_outcome_code"), ["outcome_code"], unique=False
        )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachments", sa.JSON(), nullable=True))
    op.create_table(
        "attention_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=320), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attention_items", schema=None) as batch_op:
        batch_op.create_index("ix_attention_open", ["resolved_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attention_items_code"), ["code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attention_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attention_items_code"))
        batch_op.drop_index("ix_attention_open")
    op.drop_table("attention_items")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_column("attachments")
    with op.batch_alter_table("message_facts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_facts_outcome_code"))
        batch_op.drop_column("outcome_code")
