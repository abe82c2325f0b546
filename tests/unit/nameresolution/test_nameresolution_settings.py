from __future__ import annotations

from types import MappingProxyType

import pytest

from mecha.components.nameresolution._settings import ResolverSettingsError, Settings


def settings(**values: object) -> Settings:
    return Settings(values, "nameresolution.test")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(10, 10.0), (2.5, 2.5), ("10", 10.0), ("0.25", 0.25), ("1m30s", 90.0), ("500ms", 0.5)],
)
def test_seconds_take_numbers_and_durations(value: object, seconds: float) -> None:
    assert settings(lease=value).seconds("lease", 1.0) == seconds


def test_seconds_default_when_missing_or_empty() -> None:
    assert settings().seconds("lease", 7.0) == 7.0
    assert settings(lease=" ").seconds("lease", 7.0) == 7.0


@pytest.mark.parametrize("value", ["soon", "10 s", "nan", "inf", "-1", "5x", True])
def test_seconds_refuse_what_is_not_a_finite_duration(value: object) -> None:
    with pytest.raises(ResolverSettingsError, match=r"nameresolution\.test: lease"):
        settings(lease=value).seconds("lease", 1.0)


def test_zero_seconds_only_where_allowed() -> None:
    assert settings(cache=0).seconds("cache", 1.0, allow_zero=True) == 0.0
    with pytest.raises(ResolverSettingsError, match="more than 0"):
        settings(lease="0s").seconds("lease", 1.0)


def test_ports_are_checked() -> None:
    assert settings(port=50001).port("port", 1) == 50001
    assert settings().port("port", 50002) == 50002
    for bad in ("0", "65536", "http", "-1"):
        with pytest.raises(ResolverSettingsError, match="port number"):
            settings(port=bad).port("port", 1)


def test_text_spells_booleans_as_dapr_does_and_refuses_structures() -> None:
    assert settings(flag=True).text("flag") == "true"
    assert settings(db=3).text("db") == "3"
    with pytest.raises(ResolverSettingsError, match="single value"):
        settings(apps={"a": 1}).text("apps")


def test_structure_reads_text_as_yaml() -> None:
    assert settings(apps='{"a": ["h:1:2"]}').structure("apps") == {"a": ["h:1:2"]}
    assert settings(apps="a:\n  - h:1:2\n").structure("apps") == {"a": ["h:1:2"]}
    nested = MappingProxyType({"a": ("h:1:2",)})
    assert settings(apps=nested).structure("apps") is nested
    with pytest.raises(ResolverSettingsError, match="not valid YAML"):
        settings(apps="a: [").structure("apps")


def test_scalars_are_the_single_values_as_text() -> None:
    values = settings(redisHost="h:1", redisDB=2, enableTLS=False, apps={"a": 1})
    assert values.scalars() == {"redisHost": "h:1", "redisDB": "2", "enableTLS": "false"}
