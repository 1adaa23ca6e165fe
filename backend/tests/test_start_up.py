"""What the test process leaves out of its start-up (backend/tests/conftest.py) still works when a
test asks for it."""

from __future__ import annotations

import httpx
import pytest


def test_httpx_command_line_client_runs_though_its_import_is_deferred(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as ended:
        httpx.main(["--help"])

    assert ended.value.code == 0
    assert "Usage: httpx <URL> [OPTIONS]" in capsys.readouterr().out
