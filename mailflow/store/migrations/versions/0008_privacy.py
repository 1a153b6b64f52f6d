"""privacy: consent to the public list, and when a library's personal data was erased

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
    # Libraries that applied before the form asked have no answer: NULL, not on the public list.
    with op.batch_alter_table("libraries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_listing", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("libraries", schema=None) as batch_op:
        batch_op.drop_column("forgotten_at")
        batch_op.drop_column("public_listing")
