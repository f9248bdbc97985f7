"""The README documents every setting and every command."""

from pathlib import Path

from typer.main import get_command

from reelhouse.cli.main import app
from reelhouse.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    for name in Settings.model_fields:
        assert f"`REELHOUSE_{name.upper()}`" in README, name


def test_every_command_is_in_the_readme() -> None:
    root = get_command(app)
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for sub in subcommands:
                assert f"reelhouse {name} {sub}" in README, (name, sub)
        else:
            assert f"reelhouse {name}" in README, name
