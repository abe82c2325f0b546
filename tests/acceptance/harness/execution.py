"""Running one scenario: its work directory, mecha beside it, the client, the verdict."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.acceptance.harness.manifest import ACCEPTANCE_DIR, Scenario
from tests.acceptance.harness.processes import (
    RUN_MARKER,
    STOP_GRACE_S,
    clean_environment,
    free_ports,
    kill_group,
    start_process,
    stop_mecha,
    wait_until_ready,
)

SDK_PYTHON = ACCEPTANCE_DIR / ".venv" / "bin" / "python"
# Python scenarios import their helpers as `tests.acceptance.python.support`.
REPO_ROOT = ACCEPTANCE_DIR.parents[1]
READY_TIMEOUT_S = 20.0


@dataclass
class Outcome:
    """What happened to one scenario; it passed when nothing went wrong."""

    name: str
    problems: list[str] = field(default_factory=list)
    scenario_log: Path | None = None
    mecha_log: Path | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    app: int | None


def expand(words: Sequence[str], scenario: Scenario, ports: Ports) -> list[str]:
    """Fill the placeholders a header may use in @app and @flags."""
    values = {
        "{python}": str(SDK_PYTHON),
        "{node}": shutil.which("node") or "node",
        "{dir}": str(scenario.path.parent),
        "{app_port}": str(ports.app or ""),
    }
    expanded = []
    for word in words:
        for placeholder, value in values.items():
            word = word.replace(placeholder, value)
        expanded.append(word)
    return expanded


def mecha_argv(mecha: Sequence[str], scenario: Scenario, ports: Ports, workdir: Path) -> list[str]:
    argv = [
        *mecha,
        "run",
        "--app-id",
        scenario.app_id,
        "--dapr-http-port",
        str(ports.http),
        "--dapr-grpc-port",
        str(ports.grpc),
        "--data-dir",
        str(workdir / "data"),
    ]
    # Without declared resources mecha serves its embedded defaults, as `mecha run` does for
    # a user; their files live under the scenario's own data directory.
    if scenario.resources:
        argv += ["--resources-path", str(workdir / "resources")]
    if scenario.config is not None:
        argv += ["--config", str(workdir / "config.yaml")]
    if ports.app is not None:
        argv += ["--app-port", str(ports.app)]
    argv += expand(scenario.flags, scenario, ports)
    if scenario.app_command:
        argv += ["--", *expand(scenario.app_command, scenario, ports)]
    return argv


def scenario_argv(scenario: Scenario) -> list[str]:
    if scenario.language == "python":
        return [str(SDK_PYTHON), str(scenario.path)]
    return [shutil.which("node") or "node", str(scenario.path)]


def scenario_environment(scenario: Scenario, ports: Ports) -> dict[str, str]:
    """What `dapr run` hands an app, plus the protocol a matrix scenario is run over."""
    env = clean_environment() | dict(scenario.env)
    env |= {
        "APP_ID": scenario.app_id,
        "DAPR_HTTP_PORT": str(ports.http),
        "DAPR_GRPC_PORT": str(ports.grpc),
        "PYTHONPATH": str(REPO_ROOT),
    }
    if ports.app is not None:
        env["APP_PORT"] = str(ports.app)
    if scenario.protocol is not None:
        env["ACCEPTANCE_PROTOCOL"] = scenario.protocol
    return env


def prepare_workdir(scenario: Scenario, workdir: Path) -> None:
    (workdir / "resources").mkdir(parents=True)
    (workdir / "data").mkdir()
    for filename, text in scenario.resources:
        (workdir / "resources" / filename).write_text(text)
    if scenario.config is not None:
        (workdir / "config.yaml").write_text(scenario.config)


def run_client(scenario: Scenario, ports: Ports, workdir: Path, problems: list[str]) -> None:
    log_path = workdir / "scenario.log"
    with log_path.open("wb") as log:
        client = start_process(
            scenario_argv(scenario),
            scenario_environment(scenario, ports),
            cwd=scenario.path.parent,
            log=log,
        )
        try:
            code = client.wait(timeout=scenario.timeout_s)
        except subprocess.TimeoutExpired:
            problems.append(f"scenario timed out after {scenario.timeout_s:g} s")
            return
        finally:
            kill_group(client.pid)  # a scenario past its time, or what it left behind
            client.wait()
    if code != 0:
        problems.append(f"scenario exited with code {code}")


def check_mecha_exit(process: subprocess.Popen[bytes], problems: list[str]) -> None:
    """For a scenario that stops mecha itself: it must exit cleanly on its own."""
    try:
        code = process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        problems.append(f"mecha still running {STOP_GRACE_S:g} s after the scenario stopped it")
        return
    if code != 0:
        problems.append(f"mecha exited with code {code} (expected 0)")


def run_scenario(
    scenario: Scenario, mecha: Sequence[str], workdir: Path, ready_timeout_s: float
) -> Outcome:
    outcome = Outcome(scenario.name, scenario_log=workdir / "scenario.log")
    started = time.monotonic()
    prepare_workdir(scenario, workdir)
    numbers = free_ports(3 if scenario.app_command else 2)
    ports = Ports(numbers[0], numbers[1], numbers[2] if scenario.app_command else None)
    marker = uuid.uuid4().hex
    mecha_env = clean_environment() | dict(scenario.mecha_env) | dict(scenario.env)
    mecha_env[RUN_MARKER] = marker
    outcome.mecha_log = workdir / "mecha.log"
    with outcome.mecha_log.open("wb") as log:
        try:
            process = start_process(
                mecha_argv(mecha, scenario, ports, workdir), mecha_env, workdir, log
            )
        except OSError as error:
            outcome.problems.append(f"cannot start mecha ({shlex.join(mecha)}): {error}")
            return outcome
        try:
            problem = wait_until_ready(
                process,
                ports.http,
                scenario.env.get("DAPR_API_TOKEN"),
                has_app=bool(scenario.app_command),
                timeout_s=ready_timeout_s,
            )
            if problem:
                outcome.problems.append(problem)
            else:
                run_client(scenario, ports, workdir, outcome.problems)
                if scenario.mecha_exits:
                    if not outcome.problems:
                        check_mecha_exit(process, outcome.problems)
                elif process.poll() is not None:
                    outcome.problems.append(
                        f"mecha exited unexpectedly with code {process.returncode}"
                    )
        finally:
            stop_mecha(process, marker, outcome.problems)
    outcome.seconds = time.monotonic() - started
    return outcome
