"""AppHealth's state machine, driven probe by probe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mecha.channel.health import AppHealth, HealthSettings

from .conftest import settled

# Long enough that only probe_soon() triggers probes, so each step is the test's.
MANUAL = HealthSettings(interval=60.0, timeout=5.0, threshold=3)


class ScriptedProbe:
    """A probe that answers what the test tells it, one probe at a time."""

    def __init__(self) -> None:
        self.calls = 0
        self.answered = 0
        self._answers: asyncio.Queue[bool | None] = asyncio.Queue()
        self._called = asyncio.Condition()
        self.health: AppHealth | None = None

    async def __call__(self, timeout: float) -> bool:
        async with self._called:
            self.calls += 1
            self._called.notify_all()
        answer = await self._answers.get()
        if answer is None:
            await asyncio.Event().wait()  # a probe that never answers
        return bool(answer)

    async def answer(self, healthy: bool | None) -> None:
        """Answers the next probe and returns once its result is recorded."""
        assert self.health is not None
        await self._wait_calls(self.answered + 1)
        self.answered += 1
        await self._answers.put(healthy)
        # Asked while this probe runs, so the next one follows at once. It starts only after
        # this one's result was recorded.
        self.health.probe_soon()
        await self._wait_calls(self.answered + 1)

    async def started(self) -> None:
        await self._wait_calls(1)

    async def _wait_calls(self, count: int) -> None:
        async with asyncio.timeout(10.0), self._called:
            await self._called.wait_for(lambda: self.calls >= count)


@pytest.fixture
async def probe() -> AsyncIterator[ScriptedProbe]:
    probe = ScriptedProbe()
    yield probe
    if probe.health is not None:
        await probe.health.close()


def start(probe: ScriptedProbe, settings: HealthSettings = MANUAL) -> tuple[AppHealth, list[bool]]:
    health = AppHealth(probe, settings)
    changes: list[bool] = []
    health.add_listener(changes.append)
    probe.health = health
    health.start()
    return health, changes


def healthy(health: AppHealth) -> bool:
    """Read through a call, so that type narrowing does not outlive an await."""
    return health.healthy


async def test_unhealthy_until_the_first_probe_succeeds(probe: ScriptedProbe) -> None:
    health, changes = start(probe)
    assert not healthy(health)
    await probe.started()
    assert not healthy(health)
    await probe.answer(False)
    assert not healthy(health)
    assert changes == []
    await probe.answer(True)
    assert healthy(health)
    assert health.reason == ""
    assert changes == [True]


async def test_unhealthy_after_threshold_consecutive_failures(probe: ScriptedProbe) -> None:
    health, changes = start(probe)
    await probe.answer(True)
    await probe.answer(False)
    await probe.answer(False)
    assert healthy(health)
    # A success in between starts the count again.
    await probe.answer(True)
    await probe.answer(False)
    await probe.answer(False)
    assert healthy(health)
    await probe.answer(False)
    assert not healthy(health)
    assert "3 consecutive failures" in health.reason
    await probe.answer(False)
    assert changes == [True, False]
    await probe.answer(True)
    assert healthy(health)
    assert changes == [True, False, True]


async def test_a_probe_that_hangs_fails_at_its_timeout(probe: ScriptedProbe) -> None:
    settings = HealthSettings(interval=60.0, timeout=1.0, threshold=1)
    health, _ = start(probe, settings)
    await probe.answer(True)
    assert healthy(health)
    await probe.answer(None)
    assert not healthy(health)
    assert "timed out" in health.reason


async def test_a_probe_that_raises_is_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    answers = [True]

    async def flaky(timeout: float) -> bool:
        if answers:
            return answers.pop()
        raise RuntimeError("probe bug")

    health = AppHealth(flaky, HealthSettings(interval=0.01, timeout=0.01, threshold=1))
    health.start()
    try:
        await settled(health, True)
        await settled(health, False)
    finally:
        await health.close()
    assert "probe bug" in health.reason
    assert "probe bug" in caplog.text


async def test_probes_repeat_on_the_interval() -> None:
    results = [True, True, False, False, True]
    seen = asyncio.Event()

    async def probe(timeout: float) -> bool:
        if not results:
            return True
        answer = results.pop(0)
        if not results:
            seen.set()
        return answer

    health = AppHealth(probe, HealthSettings(interval=0.01, timeout=0.01, threshold=2))
    changes: list[bool] = []
    health.add_listener(changes.append)
    health.start()
    try:
        await seen.wait()
        await settled(health, True)
    finally:
        await health.close()
    assert changes == [True, False, True]


async def test_wait_returns_at_once_in_the_current_state(probe: ScriptedProbe) -> None:
    health, _ = start(probe)
    await settled(health, False)
    await probe.answer(True)
    await settled(health, True)


async def test_a_failing_listener_does_not_stop_the_probes(
    probe: ScriptedProbe, caplog: pytest.LogCaptureFixture
) -> None:
    health, changes = start(probe)

    def broken(healthy: bool) -> None:
        raise RuntimeError("listener bug")

    health.add_listener(broken)
    health.add_listener(changes.append)
    await probe.answer(True)
    assert healthy(health)
    assert changes == [True, True]
    assert "listener failed" in caplog.text


async def test_close_stops_probing(probe: ScriptedProbe) -> None:
    health, _ = start(probe)
    await probe.started()
    await health.close()
    with pytest.raises(RuntimeError):
        health.start()


@pytest.mark.parametrize(
    "settings",
    [
        {"interval": 0},
        {"timeout": 0},
        {"interval": 1.0, "timeout": 2.0},
        {"threshold": 0},
    ],
)
def test_settings_are_checked(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="app health"):
        HealthSettings(**settings)  # type: ignore[arg-type]
