"""The CLI's device id: one per machine and user, kept in the user's config directory, so each
`switchboard chat` resumes the same device (its buffer, its place in the session's caps)."""

import importlib
import os
import secrets
from pathlib import Path

from switchboard_protocol import is_name

FILE_NAME = "device_id"


def config_dir() -> Path:
    """platformdirs' user config dir when that package is installed, else
    `$XDG_CONFIG_HOME/switchboard` (default `~/.config/switchboard`)."""
    try:
        platformdirs = importlib.import_module("platformdirs")
    except ImportError:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "switchboard"
    return Path(platformdirs.user_config_dir("switchboard"))


def device_id(directory: Path | None = None) -> str:
    """The stored id, made (`cli-<hex>`) and stored on first use. A directory that cannot be
    written gives a fresh id for this run only (the CLI still works, as a new device)."""
    path = (directory or config_dir()) / FILE_NAME
    try:
        stored = path.read_text().strip()
        if is_name(stored):
            return stored
    except OSError:
        pass
    new = f"cli-{secrets.token_hex(6)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new + "\n")
    except OSError:
        pass
    return new
