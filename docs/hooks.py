"""MkDocs hooks: the HTTP API page's OpenAPI schema, generated from the app at each build.

The schema is written to a temporary directory, not into ``docs/``: the source tree stays clean,
``mkdocs serve`` does not see a changed file and rebuild in a loop, and no server or network is
needed. ``api.md`` names it ``[OAD(openapi.json)]``; the page hook points that at the real file.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

SCHEMA_TAG = "[OAD(openapi.json)]"

_schema_dir: tempfile.TemporaryDirectory[str] | None = None


def openapi_schema() -> dict[str, Any]:
    """The app's schema, from settings that ignore ``.env`` (the schema does not depend on them)."""
    from backend.app import create_app
    from backend.config import Environment, Settings

    settings = Settings(environment=Environment.DEVELOPMENT, _env_file=None)
    return create_app(settings).openapi()


def on_pre_build(config: Any) -> None:
    global _schema_dir
    if _schema_dir is None:
        _schema_dir = tempfile.TemporaryDirectory(prefix="backend-docs-")
    path = Path(_schema_dir.name) / "openapi.json"
    path.write_text(json.dumps(openapi_schema(), indent=2), encoding="utf-8")


# Runs before neoteroi's OAD plugin (default priority 0), which reads the file the tag names.
@event_priority(100)
def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if SCHEMA_TAG not in markdown or _schema_dir is None:
        return markdown
    return markdown.replace(SCHEMA_TAG, f"[OAD({Path(_schema_dir.name) / 'openapi.json'})]")


def on_shutdown() -> None:
    global _schema_dir
    if _schema_dir is not None:
        _schema_dir.cleanup()
        _schema_dir = None
