"""What ships: the wheel and the Docker build context hold the service, never the development tooling.

The test harness, the benchmark and the tests live beside the service in ``backend/`` so that a
checkout imports them; they must not reach a deployment, where they would be dead weight and an
attack surface (the harness starts servers and runs commands as other users).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from backend.tests.fixtures.head_start import HEAD, Ahead, for_test

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ("harness/src/pytest_dbharness", "backend/bench", "backend/tests")
SERVICE = ("backend/app.py", "backend/cli.py", "backend/auth", "backend/contexts", "backend/admin")


def _build_wheel(out_dir: Path) -> Path:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the wheel: python3 -m pip install uv"
    subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(out_dir), str(ROOT)],
        check=True,
        timeout=120,
    )
    (wheel,) = out_dir.glob("backend-*.whl")
    return wheel


# The build (half a second in uv) starts at a serial run's first test (fixtures/head_start.py).
HEAD_START = {
    "wheel": Ahead(
        needed_by=for_test("test_the_wheel_holds_the_service_and_no_tooling"),
        start=lambda _config, directory, _items: _build_wheel(directory),
    )
}


def test_the_wheel_holds_the_service_and_no_tooling(tmp_path: Path) -> None:
    wheel = HEAD.take("wheel") or _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    shipped_tooling = [name for name in names if name.startswith(TOOLING)]
    assert shipped_tooling == [], f"the wheel ships development tooling: {shipped_tooling}"
    for part in SERVICE:
        assert any(name.startswith(part) for name in names), f"the wheel lacks {part}"


def test_the_docker_build_context_leaves_the_tooling_out() -> None:
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for folder in TOOLING:
        assert any(fnmatch.fnmatch(folder, pattern) for pattern in patterns), (
            f"{folder}/ would be copied into the image: add it to .dockerignore"
        )
