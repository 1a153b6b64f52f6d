"""outbox spec: what to render, kept until the drainer renders the mail when it sends it

Revision ID: 0012
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows queued before the upgrade keep their rendered bytes and no spec: sent as they are.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("spec")
