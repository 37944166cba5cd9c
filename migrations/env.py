"""Alembic environment. The database URL comes from the caller: `readmodel.migrate` passes it as an
attribute (`movieviews migrate` builds it from the settings); the alembic CLI takes `-x url=...` or the ini's
sqlalchemy.url."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import create_engine, pool

from readmodel.tables import metadata

config = context.config

# Programmatic callers (readmodel.migrate) configure logging themselves; only the alembic CLI reads the ini's.
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise CommandError("no database URL: run `movieviews migrate`, or alembic with -x url=...")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # NullPool: a migration run is one short session, nothing to keep open afterwards.
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
