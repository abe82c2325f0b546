"""Running one scenario: its work directory, mecha beside it, the client, the verdict."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
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
    peer_log: Path | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    app: int | None


@dataclass(frozen=True)
class Launch:
    """One `mecha run` of a scenario: the scenario's own runtime, or its `@peer`."""

    name: str  # how problems and logs call it: "mecha" or "peer"
    app_id: str
    ports: Ports
    flags: tuple[str, ...]
    app_command: tuple[str, ...]
    env: Mapping[str, str]


def launches(scenario: Scenario) -> list[Launch]:
    """The runtimes a scenario needs, each with free ports; the peer, if any, comes second."""
    peer = scenario.peer
    wants_app = [bool(scenario.app_command)] + ([bool(peer.app_command)] if peer else [])
    numbers = iter(free_ports(sum(2 + int(app) for app in wants_app)))

    def ports(has_app: bool) -> Ports:
        return Ports(next(numbers), next(numbers), next(numbers) if has_app else None)

    env = dict(scenario.mecha_env) | dict(scenario.env)
    own = Launch(
        "mecha",
        scenario.app_id,
        ports(wants_app[0]),
        scenario.flags,
        scenario.app_command,
        env,
    )
    if peer is None:
        return [own]
    return [
        own,
        Launch(
            "peer",
            peer.app_id,
            ports(wants_app[1]),
            peer.flags,
            peer.app_command,
            env | dict(peer.env),
        ),
    ]


def expand(words: Sequence[str], scenario: Scenario, ports: Ports) -> list[str]:
    """Fill the placeholders a header may use in @app and @flags (and their @peer forms)."""
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


def mecha_argv(
    mecha: Sequence[str], scenario: Scenario, launch: Launch, workdir: Path
) -> list[str]:
    # A peer shares the data directory, so the default name resolver lets the two runtimes
    # find each other, and it serves the same resources and configuration.
    argv = [
        *mecha,
        "run",
        "--app-id",
        launch.app_id,
        "--dapr-http-port",
        str(launch.ports.http),
        "--dapr-grpc-port",
        str(launch.ports.grpc),
        "--data-dir",
        str(workdir / "data"),
    ]
    # Without declared resources mecha serves its embedded defaults, as `mecha run` does for
    # a user; their files live under the scenario's own data directory.
    if scenario.resources:
        argv += ["--resources-path", str(workdir / "resources")]
    if scenario.config is not None:
        argv += ["--config", str(workdir / "config.yaml")]
    if launch.ports.app is not None:
        argv += ["--app-port", str(launch.ports.app)]
    argv += expand(launch.flags, scenario, launch.ports)
    if launch.app_command:
        argv += ["--", *expand(launch.app_command, scenario, launch.ports)]
    return argv


def scenario_argv(scenario: Scenario) -> list[str]:
    if scenario.language == "python":
        return [str(SDK_PYTHON), str(scenario.path)]
    return [shutil.which("node") or "node", str(scenario.path)]


def scenario_environment(scenario: Scenario, runtimes: Sequence[Launch]) -> dict[str, str]:
    """What `dapr run` hands an app, plus the protocol a matrix scenario is run over, and
    where the peer runtime and its app are."""
    ports = runtimes[0].ports
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
    for peer in runtimes[1:]:
        env |= {
            "PEER_APP_ID": peer.app_id,
            "PEER_HTTP_PORT": str(peer.ports.http),
            "PEER_GRPC_PORT": str(peer.ports.grpc),
        }
        if peer.ports.app is not None:
            env["PEER_APP_PORT"] = str(peer.ports.app)
    return env


def prepare_workdir(scenario: Scenario, workdir: Path) -> None:
    (workdir / "resources").mkdir(parents=True)
    (workdir / "data").mkdir()
    for filename, text in scenario.resources:
        (workdir / "resources" / filename).write_text(text)
    if scenario.config is not None:
        (workdir / "config.yaml").write_text(scenario.config)


def run_client(
    scenario: Scenario, runtimes: Sequence[Launch], workdir: Path, problems: list[str]
) -> None:
    log_path = workdir / "scenario.log"
    with log_path.open("wb") as log:
        client = start_process(
            scenario_argv(scenario),
            scenario_environment(scenario, runtimes),
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


@dataclass
class Running:
    launch: Launch
    process: subprocess.Popen[bytes]
    marker: str


@contextlib.contextmanager
def started(
    mecha: Sequence[str],
    scenario: Scenario,
    runtimes: Sequence[Launch],
    workdir: Path,
    problems: list[str],
) -> Iterator[list[Running]]:
    """Start every runtime, each with its own log and marker; stop them all on the way out."""
    running: list[Running] = []
    with contextlib.ExitStack() as stack:
        try:
            for launch in runtimes:
                marker = uuid.uuid4().hex
                env = clean_environment() | dict(launch.env) | {RUN_MARKER: marker}
                log = stack.enter_context((workdir / f"{launch.name}.log").open("wb"))
                try:
                    process = start_process(
                        mecha_argv(mecha, scenario, launch, workdir), env, workdir, log
                    )
                except OSError as error:
                    problems.append(f"cannot start {launch.name} ({shlex.join(mecha)}): {error}")
                    break
                running.append(Running(launch, process, marker))
            yield running
        finally:
            for run in running:
                stop_mecha(run.process, run.marker, problems, run.launch.name)


def run_scenario(
    scenario: Scenario, mecha: Sequence[str], workdir: Path, ready_timeout_s: float
) -> Outcome:
    outcome = Outcome(scenario.name, scenario_log=workdir / "scenario.log")
    started_at = time.monotonic()
    prepare_workdir(scenario, workdir)
    runtimes = launches(scenario)
    outcome.mecha_log = workdir / "mecha.log"
    if scenario.peer is not None:
        outcome.peer_log = workdir / "peer.log"
    with started(mecha, scenario, runtimes, workdir, outcome.problems) as running:
        if len(running) == len(runtimes):
            run_started(scenario, running, workdir, ready_timeout_s, outcome.problems)
    outcome.seconds = time.monotonic() - started_at
    return outcome


def run_started(
    scenario: Scenario,
    running: Sequence[Running],
    workdir: Path,
    ready_timeout_s: float,
    problems: list[str],
) -> None:
    """Wait for every runtime to be ready, run the client, then judge how the runtimes fared."""
    for run in running:  # they start side by side, so later waits are mostly over already
        problem = wait_until_ready(
            run.process,
            run.launch.ports.http,
            scenario.env.get("DAPR_API_TOKEN"),
            has_app=bool(run.launch.app_command),
            timeout_s=ready_timeout_s,
            name=run.launch.name,
        )
        if problem:
            problems.append(problem)
            return
    run_client(scenario, [run.launch for run in running], workdir, problems)
    own, *peers = running
    if scenario.mecha_exits:
        if not problems:
            check_mecha_exit(own.process, problems)
    elif own.process.poll() is not None:
        problems.append(f"mecha exited unexpectedly with code {own.process.returncode}")
    for peer in peers:
        if peer.process.poll() is not None:
            problems.append(f"peer exited unexpectedly with code {peer.process.returncode}")
