"""Alembic environment: migrations run on a synchronous connection handed in by basestation.dispatch.io.migrate."""

from alembic import context

from basestation.dispatch.io.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
