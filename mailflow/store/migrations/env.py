"""Alembic environment: the URL comes from mailflow's settings, never from an ini file."""

from alembic import context
from sqlalchemy import create_engine, pool

from mailflow.errors import ConfigError
from mailflow.store.schema import Base

config = context.config
# mailflow.store.db sets it from the settings; alembic's own command line would leave it unset.
url = config.get_main_option("sqlalchemy.url") or ""
if not url:
    raise ConfigError("no sqlalchemy.url: run migrations through mailflow (mailflow.store.db)")


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
