"""contacts: one address may be the contact of several libraries (a librarian with two
branches), once per library; replies are told apart by the library's token

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# SQLite keeps the old UNIQUE(email) unnamed: batch mode names it by this convention to drop it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("contacts", recreate="always", naming_convention=NAMING) as b:
            b.drop_constraint("uq_contacts_email", type_="unique")
            b.create_unique_constraint("uq_contacts_library_email", ["library_id", "email"])
            b.create_index("ix_contacts_email", ["email"])
        return
    for unique in sa.inspect(bind).get_unique_constraints("contacts"):
        if unique["column_names"] == ["email"] and unique["name"]:
            op.drop_constraint(unique["name"], "contacts", type_="unique")
    op.create_unique_constraint("uq_contacts_library_email", "contacts", ["library_id", "email"])
    op.create_index("ix_contacts_email", "contacts", ["email"])


def downgrade() -> None:
    # Fails where an address is a contact of two libraries: decide those by hand first.
    with op.batch_alter_table("contacts", naming_convention=NAMING) as b:
        b.drop_index("ix_contacts_email")
        b.drop_constraint("uq_contacts_library_email", type_="unique")
        b.create_unique_constraint("uq_contacts_email", ["email"])
