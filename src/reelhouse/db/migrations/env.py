from alembic import context

import reelhouse.accounts.models
import reelhouse.analytics.models
import reelhouse.videos.models  # noqa: F401  (registers the tables)
from reelhouse.db.base import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
