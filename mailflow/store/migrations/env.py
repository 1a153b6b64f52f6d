"""Alembic environment: the URL comes from mailflow's settings, never from an ini file."""

from alembic import context
from sqlalchemy import create_engine, pool

from mailflow.store.schema import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=url.startswith("sqlite"),  # SQLite needs batch mode for ALTERs
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
