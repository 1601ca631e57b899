"""docker-compose.yml as operators expect it: read by a real compose implementation
(`docker compose config`), and its healthchecks and Redis run for real against our processes.

The checks that need Compose skip where none is installed, except in CI, where scripts/test.sh
installs Debian's docker-compose and a missing one is a failure. `config` needs no engine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis
import yaml

from campaign.plan import load_campaign
from tests.fixtures.celery import ROOT, StartWorker, delivery_settings, environment, eventually
from tests.fixtures.redis import RedisServer, free_port
from workers.diff import delivered_channels
from workers.settings import Settings
from workers.store import open_store

COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("worker", "scheduler", "flower")
IMAGE_ROOT = Path("/app")  # the Dockerfile's WORKDIR


def compose_file() -> dict[str, Any]:
    """The file as written (PyYAML applies the `<<` merges as Compose does)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def missing(tool: str) -> NoReturn:
    """A missing tool fails in CI (scripts/test.sh installs it) and skips elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(tool)
    pytest.skip(tool)


def compose_command() -> list[str] | None:
    """`docker compose` (v2) where it works, else `docker-compose` (v1), else None."""
    docker = shutil.which("docker")
    if docker is not None:
        version = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if version.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file as Compose reads it: `config` resolves merges, paths, defaults and durations."""
    command = compose_command()
    if command is None:
        missing("no compose implementation (apt-get install docker-compose)")
    # A copy of the project, so that no .env of this checkout is read (`config` prints it) and
    # relative paths resolve the same way in Compose v1 and v2.
    project = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "Dockerfile", "config", "templates"):
        (project / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / ".env.example", project / ".env")
    clean = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    result = subprocess.run(
        [*command, "config"],
        cwd=project,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} config failed:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool
    named: bool  # a named volume, not a folder of the host


def mounts(service: dict[str, Any]) -> dict[str, Mount]:
    """A service's mounts by target, from Compose v1's short form or v2's long form."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mount = Mount(source, target, mode == ["ro"], not source.startswith(("/", ".")))
        else:
            mount = Mount(
                volume["source"],
                volume["target"],
                bool(volume.get("read_only")),
                volume["type"] == "volume",
            )
        found[mount.target] = mount
    return found


def seconds(duration: str) -> float:
    """A Compose duration (`120s`, `2m0s`, `1m30s`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    return sum(float(value) * units[unit] for value, unit in parts)


def healthcheck_command(service: dict[str, Any]) -> str:
    """A CMD-SHELL healthcheck as the shell line the container runs (`$$` is a plain `$`)."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL", test
    return str(test[1]).replace("$$", "$")


# -- the file as Compose reads it ------------------------------------------------------------


def test_every_service_has_a_healthcheck_and_restarts_when_it_exits(
    compose_config: dict[str, Any],
) -> None:
    services = compose_config["services"]

    assert set(services) == {"redis", *APP_SERVICES}
    for name, service in services.items():
        assert service["healthcheck"]["test"], f"{name} has no healthcheck"
        assert service["restart"] in ("unless-stopped", "always"), name


def test_campaigns_and_templates_are_the_working_copy_mounted_read_only(
    compose_config: dict[str, Any],
) -> None:
    for name in ("worker", "scheduler"):
        found = mounts(compose_config["services"][name])
        for folder in ("config", "templates"):
            mount = found[str(IMAGE_ROOT / folder)]
            assert mount.read_only, f"{name}: {folder}/ is writable"
            assert Path(mount.source).resolve() == ROOT / folder, f"{name}: {folder}/ not mounted"


def test_the_demo_campaigns_outbox_resolves_onto_a_volume_the_worker_writes(
    compose_config: dict[str, Any],
) -> None:
    # Given the demo campaign applied in a container, as `campaign apply config/demo.yaml`
    campaign, _ = load_campaign(ROOT / "config" / "demo.yaml")
    stored = delivered_channels(campaign, IMAGE_ROOT / "config")["outbox"].directory

    # Then the directory apply stores is a named volume of the worker, writable
    mount = mounts(compose_config["services"]["worker"])[str(stored)]
    assert mount.named
    assert not mount.read_only
    # And the image makes that folder its user's, which a new named volume takes over
    assert str(stored) in owned_by_nobody()


def test_the_worker_is_given_longer_to_stop_than_a_task_may_run(
    compose_config: dict[str, Any],
) -> None:
    grace = seconds(compose_config["services"]["worker"]["stop_grace_period"])
    default = Settings.model_fields["task_time_limit"].default
    example = re.search(r"^CAMPAIGN_TASK_TIME_LIMIT=(\S+)", (ROOT / ".env.example").read_text(),
                        re.MULTILINE)  # fmt: skip

    assert example is not None
    assert grace > default
    assert grace > float(example[1])


def test_flower_keeps_its_task_history_on_a_volume(compose_config: dict[str, Any]) -> None:
    flower = compose_config["services"]["flower"]
    command = flower["command"]
    words = command.split() if isinstance(command, str) else command
    database = next(w.split("=", 1)[1] for w in words if w.startswith("--db="))

    assert "--persistent=True" in words
    mount = mounts(flower)[str(Path(database).parent)]
    assert mount.named
    assert not mount.read_only
    assert mount.target in owned_by_nobody()


def owned_by_nobody() -> set[str]:
    """The folders the Dockerfile hands to nobody (`chown nobody:nogroup A B ...`)."""
    text = re.sub(r"\s*\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    found = re.findall(r"chown nobody:nogroup ([^&;\n]+)", text)
    return {path for paths in found for path in paths.split()}


def test_the_image_runs_as_nobody() -> None:
    users = re.findall(r"^USER (\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)

    assert users[-1:] == ["nobody"]


# -- what the file runs, run here for real ---------------------------------------------------


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server started with the compose file's Redis arguments; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    argv = compose_file()["services"]["redis"]["command"]
    assert argv[0] == "redis-server"
    port = free_port()
    with (tmp_path / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, *argv[1:], "--port", str(port), "--bind", "127.0.0.1",
             "--dir", str(tmp_path), "--save", ""],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    try:
        eventually(lambda: _answers(client), 10, "redis-server answers")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.kill()
        process.wait(timeout=10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_the_compose_redis_is_one_apply_accepts_any_channel_on(compose_redis: str) -> None:
    # Given the store opened on a Redis run with the compose file's arguments
    store = open_store(Settings.model_validate({"redis_url": compose_redis}))
    try:
        # Then no claim can be lost in a crash: webhook and Telegram channels are accepted
        assert store.claim_loss() is None
    finally:
        store.close()


def with_venv_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this interpreter's scripts (`celery`, `campaign`) first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, **env, "PATH": path, "PYTHONPATH": str(ROOT)}


def healthy(command: str, env: dict[str, str]) -> bool:
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=60,
                          check=False).returncode == 0  # fmt: skip


@pytest.mark.slow
def test_the_scheduler_healthcheck_holds_while_the_loop_runs_and_fails_once_it_stops(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # Given the scheduler as compose runs it, with the heartbeat file of the compose file
    scheduler = compose_file()["services"]["scheduler"]
    heartbeat = scheduler["environment"]["CAMPAIGN_SCHEDULER_HEARTBEAT"]
    check = healthcheck_command(scheduler)
    assert heartbeat in check
    here = tmp_path / "scheduler.alive"
    check = check.replace(heartbeat, str(here))
    settings = delivery_settings(redis_server, scheduler_heartbeat=here)
    env = with_venv_on_path(environment(settings))
    assert not healthy(check, env), "healthy before the scheduler ran"

    # When it runs, the healthcheck passes
    with (tmp_path / "scheduler.log").open("wb") as log:
        process = subprocess.Popen(
            ["campaign", "scheduler"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        eventually(lambda: healthy(check, env), 20, "the scheduler healthy")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

    # And once the loop has stopped and its last pass is old, it fails
    old = time.time() - 3600
    os.utime(here, (old, old))
    assert not healthy(check, env)


@pytest.mark.slow
def test_the_worker_healthcheck_pings_this_containers_worker(
    redis_server: RedisServer, start_worker: StartWorker
) -> None:
    # Given a worker with the default node name, as in a container (celery@<its hostname>)
    settings = delivery_settings(redis_server, queue="health")
    check = healthcheck_command(compose_file()["services"]["worker"])
    env = with_venv_on_path({**environment(settings), "HOSTNAME": socket.gethostname()})
    worker = start_worker(settings, name="celery")

    # Then the healthcheck passes while it runs
    assert healthy(check, env)

    # And fails once it is gone (with a short wait for the answer that will not come)
    worker.kill()
    assert not healthy(re.sub(r"--timeout \d+", "--timeout 1", check), env)
