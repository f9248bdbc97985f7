"""The migrations build exactly the schema the models describe."""

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text

import reelhouse.accounts.models
import reelhouse.analytics.models
import reelhouse.videos.models  # noqa: F401  (registers the tables)
from reelhouse.db.base import Base
from reelhouse.db.database import Database


def test_migrations_match_the_models(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    database.migrate()

    with database.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), Base.metadata
        )

    assert differences == []


def test_accounts_made_before_write_keys_get_one_each(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("reelhouse.db") / "migrations")
    )
    config.attributes["engine"] = database.engine
    command.upgrade(config, "0003")
    with database.engine.begin() as connection:
        for name in ("a", "b"):
            connection.execute(
                text(
                    "INSERT INTO accounts (id, name, encoding, created_at) "
                    "VALUES (:id, :name, '{}', '2026-01-01')"
                ),
                {"id": f"account-{name}", "name": name},
            )

    database.migrate()

    with database.engine.connect() as connection:
        keys = connection.execute(text("SELECT write_key FROM accounts")).scalars()
        found = list(keys)
    assert len(set(found)) == 2
    assert all(key.startswith("wk_") for key in found)
