"""The compose files, Dockerfile, integration script and CI workflow agree with each other.

No Docker engine is needed: these read the files and check what can drift unnoticed until someone
runs them (an unpinned image, a password changed in one place only, a session CI never runs).
They touch no database.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = "docker-compose.yml"
COMPOSE_DEV = "docker-compose.dev.yml"
WORKFLOW = ".github/workflows/ci.yml"
INTEGRATION_SCRIPT = ROOT / "scripts" / "test_docker_integration.sh"
POSTGRES_PORT = 5432


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text())
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def services(name: str) -> dict[str, dict[str, Any]]:
    return load(name)["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either compose form, with ``${VAR:-default}`` resolved."""
    raw = service.get("environment") or service.get("env") or {}
    pairs = dict(item.split("=", 1) for item in raw) if isinstance(raw, list) else raw
    return {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value)) for key, value in pairs.items()}


def is_pinned(image: str) -> bool:
    """A digest, or a tag with at least major.minor: `latest` and `17` both move under you."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and re.fullmatch(r"v?\d+\.\d+[\w.-]*", tag) is not None


def published_ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) for each `ports:` entry."""
    parsed = []
    for spec in service.get("ports", []):
        *host, container = str(spec).split(":")
        address = host[0] if len(host) == 2 else ""
        parsed.append((address, int(host[-1]) if host else int(container), int(container)))
    return parsed


def dockerfile_lines() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def default_nox_sessions() -> list[str]:
    """`nox.options.sessions` as written in noxfile.py (nox itself is not a test dependency)."""
    for node in ast.walk(ast.parse((ROOT / "noxfile.py").read_text())):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "nox.options.sessions":
            return list(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py does not set nox.options.sessions")


def all_images() -> list[tuple[str, str]]:
    images = [
        (f"{name}: {service_name}", service["image"])
        for name in (COMPOSE, COMPOSE_DEV)
        for service_name, service in services(name).items()
        if "image" in service
    ]
    for job_name, job in load(WORKFLOW)["jobs"].items():
        images += [
            (f"{WORKFLOW}: {job_name}", s["image"]) for s in job.get("services", {}).values()
        ]
    for line in dockerfile_lines():
        words = line.split()
        if words[0] == "FROM":
            images.append(("Dockerfile: FROM", words[1]))
        images += [("Dockerfile: COPY", w.removeprefix("--from=")) for w in words if "--from=" in w]
    return images


@pytest.mark.parametrize(("where", "image"), all_images())
def test_every_image_is_pinned_to_a_version(where: str, image: str) -> None:
    assert is_pinned(image), f"{where} uses {image!r}; pin a version (major.minor at least)"


def test_the_pin_check_refuses_floating_tags() -> None:
    assert not is_pinned("postgres")
    assert not is_pinned("postgres:latest")
    assert not is_pinned("postgres:18")
    assert not is_pinned("localhost:5000/postgres")
    assert is_pinned("postgres:18.4-alpine")
    assert is_pinned("qdrant/qdrant:v1.19.1")
    assert is_pinned("postgres@sha256:" + "0" * 64)


def test_compose_files_hold_the_expected_services() -> None:
    assert set(services(COMPOSE)) == {"api", "postgres"}
    assert set(services(COMPOSE_DEV)) == {"postgres", "redis", "qdrant"}


@pytest.mark.parametrize("name", [COMPOSE, COMPOSE_DEV])
def test_every_service_has_a_health_check_and_named_volumes(name: str) -> None:
    declared = set(load(name).get("volumes") or {})
    for service_name, service in services(name).items():
        assert service.get("healthcheck", {}).get("test"), f"{service_name} has no health check"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared, f"{service_name} mounts {source!r}, not a named volume"


def test_dev_services_listen_on_localhost_only() -> None:
    for service_name, service in services(COMPOSE_DEV).items():
        ports = published_ports(service)
        assert ports, f"{service_name} publishes no port"
        assert all(address == "127.0.0.1" for address, _, _ in ports), service_name


def test_the_api_waits_for_a_healthy_postgres_it_can_log_in_to() -> None:
    api, postgres = services(COMPOSE)["api"], services(COMPOSE)["postgres"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = urlsplit(environment(api)["BACKEND_DATABASE_URL"])
    db_env = environment(postgres)
    assert (url.hostname, url.port) == ("postgres", POSTGRES_PORT)
    assert (url.username, url.password) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"])
    assert url.path.lstrip("/") == db_env["POSTGRES_DB"]


def test_the_integration_script_reaches_the_dev_postgres() -> None:
    script = INTEGRATION_SCRIPT.read_text()
    match = re.search(r"postgresql://[^\s\"']+", script)
    assert match, "the script passes no PostgreSQL URL"
    url = urlsplit(match.group())
    postgres = services(COMPOSE_DEV)["postgres"]
    db_env = environment(postgres)
    host_ports = {(a, host) for a, host, inside in published_ports(postgres) if inside == 5432}
    assert (url.hostname, url.port) in host_ports
    assert (url.username, url.password) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"])
    # A database the container creates; the harness then makes its own test_* databases.
    assert url.path.lstrip("/") in {"postgres", db_env["POSTGRES_DB"]}
    assert "-f docker-compose.dev.yml" in script
    assert "DBHARNESS_POSTGRES_URL=" in script
    assert "nox -s tests-postgres" in script


def test_the_integration_script_brings_the_stack_down_whatever_happens() -> None:
    script = INTEGRATION_SCRIPT.read_text()
    trap = next((line for line in script.splitlines() if line.startswith("trap ")), "")
    assert " down" in trap and trap.rstrip().endswith("EXIT"), "no `trap … down … EXIT`"
    assert script.index("trap ") < script.index(" up -d"), "the trap must be set before `up`"


def test_the_image_runs_the_server_as_an_unprivileged_user() -> None:
    users = [line.split()[1] for line in dockerfile_lines() if line.startswith("USER ")]
    assert users, "the Dockerfile never switches USER: the server would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    command = next(line for line in reversed(dockerfile_lines()) if line.startswith("CMD "))
    # `backend serve` upgrades the database before listening: the image migrates on start.
    assert '"backend", "serve", "--host", "0.0.0.0"' in command


def sessions_of(job: dict[str, Any]) -> set[str]:
    """The nox sessions a workflow job runs: its matrix's, or those its steps name with ``-s``."""
    matrix = job.get("strategy", {}).get("matrix", {}).get("session")
    if matrix:
        return set(matrix)
    runs = " ".join(step.get("run", "") for step in job["steps"])
    return set(re.findall(r"nox==\S+ -s (\S+)", runs))


def test_ci_runs_every_default_nox_session() -> None:
    ran = set().union(*(sessions_of(job) for job in load(WORKFLOW)["jobs"].values()))
    missing = set(default_nox_sessions()) - ran
    assert not missing, f"a bare `nox` runs {sorted(missing)} but CI does not"


def test_ci_runs_the_parity_suite_as_shards_that_cache_the_migrated_schema() -> None:
    job = load(WORKFLOW)["jobs"]["tests-postgres"]
    shards = job["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1)) and len(shards) > 1
    run = next(step["run"] for step in job["steps"] if "tests-postgres" in step.get("run", ""))
    assert f"--splits {len(shards)} --group" in run
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".pytest_cache/d/dbharness-schema"
    # The files the harness's schema key hashes (harness/src/pytest_dbharness/schema.py), and the tools' pins.
    for source in ("alembic.ini", "alembic/versions/*.py", "uv.lock"):
        assert f"'{source}'" in cache["with"]["key"], source


def test_ci_uses_the_locked_nox_and_caches_uv() -> None:
    workflow = load(WORKFLOW)
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = next(p["version"] for p in lock["package"] if p["name"] == "nox")
    assert workflow["env"]["NOX_VERSION"] == locked
    for job_name, job in workflow["jobs"].items():
        setup = [s for s in job["steps"] if s.get("uses", "").startswith("astral-sh/setup-uv@")]
        assert setup and setup[0]["with"]["enable-cache"] is True, job_name


def test_ci_pins_every_action_to_a_commit_with_its_version_beside_it() -> None:
    # A tag can be moved to other code after review; a commit cannot (zizmor: unpinned-uses).
    uses = re.findall(r"^\s*(?:- )?uses:\s*(\S+)(.*)$", (ROOT / WORKFLOW).read_text(), re.MULTILINE)
    assert uses
    for reference, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", reference), reference
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), (reference, comment)


def test_ci_grants_no_more_than_reading_and_keeps_no_credentials() -> None:
    workflow = load(WORKFLOW)
    assert workflow["permissions"] == {}
    for job_name, job in workflow["jobs"].items():
        assert job["permissions"] == {"contents": "read"}, job_name
        checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert checkouts, job_name
        for step in checkouts:
            assert step["with"]["persist-credentials"] is False, job_name


def test_lint_runs_zizmor_offline_on_the_workflows() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert '["zizmor", "--offline", ".github/workflows"]' in noxfile


def test_ci_installs_postgres_binaries_for_the_launched_server_sessions() -> None:
    nox_steps = load(WORKFLOW)["jobs"]["nox"]["steps"]
    apt = next(step for step in nox_steps if "apt-get install" in step.get("run", ""))
    assert re.search(r"\bpostgresql\b", apt["run"])
    assert "migrations" in apt["if"]
    shard_steps = load(WORKFLOW)["jobs"]["tests-postgres"]["steps"]
    apt = next(step for step in shard_steps if "apt-get install" in step.get("run", ""))
    assert re.search(r"\bpostgresql\b", apt["run"]) and "if" not in apt


def test_ci_service_job_uses_the_external_server_mode_on_the_compose_image() -> None:
    job = load(WORKFLOW)["jobs"]["tests-postgres-service"]
    service = job["services"]["postgres"]
    assert service["image"] == services(COMPOSE)["postgres"]["image"]
    url = urlsplit(job["env"]["DBHARNESS_POSTGRES_URL"])
    service_env = environment(service)
    assert f"{url.port}:{POSTGRES_PORT}" in service["ports"]
    assert (url.username, url.password) == (
        service_env["POSTGRES_USER"],
        service_env["POSTGRES_PASSWORD"],
    )
    assert "pg_isready" in service["options"]
    assert any(
        "nox" in step.get("run", "") and "tests-postgres" in step["run"] for step in job["steps"]
    )
