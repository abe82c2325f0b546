"""Reading a resolver's configuration (the Configuration's `spec.nameResolution.configuration`).

Values arrive either as YAML gave them (numbers, booleans, nested mappings and lists) or as text
(component-style metadata), so every reader accepts both: `leaseSeconds: 10` and
`leaseSeconds: "10s"` mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from mecha.components.metadata import MetadataError, read_port, read_seconds

# A configuration value that is missing, malformed or out of range.
ResolverSettingsError = MetadataError


class Settings:
    """A resolver's configuration; names match exactly, values are YAML scalars or text."""

    def __init__(self, values: Mapping[str, object], component: str) -> None:
        self.values = values
        self.component = component

    def error(self, message: str) -> ResolverSettingsError:
        return ResolverSettingsError(f"{self.component}: {message}")

    def text(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        if value is None:
            return default
        text = _scalar_text(value)
        if text is None:
            raise self.error(f"{name} must be a single value, not a {type(value).__name__}")
        return text

    def seconds(self, name: str, default: float, *, allow_zero: bool = False) -> float:
        """A number of seconds ("10", 2.5) or a Go duration ("10s", "500ms")."""
        text = self.text(name).strip()
        if not text:
            return default
        seconds = read_seconds(text, name, component=self.component)
        if seconds < 0 or (seconds == 0 and not allow_zero):
            least = "0 or more" if allow_zero else "more than 0"
            raise self.error(f"{name} must be {least}, not {text}")
        return seconds

    def port(self, name: str, default: int) -> int:
        text = self.text(name).strip()
        if not text:
            return default
        return parse_port(text, name, self)

    def structure(self, name: str) -> object:
        """A nested value as YAML gave it; text is read as YAML (JSON included)."""
        value = self.values.get(name)
        if isinstance(value, str):
            import yaml

            try:
                return yaml.safe_load(value)
            except yaml.YAMLError as error:
                raise self.error(f"{name} is not valid YAML or JSON: {error}") from None
        return value

    def scalars(self) -> dict[str, str]:
        """Every single-valued field as text, as component metadata carries it."""
        result: dict[str, str] = {}
        for name, value in self.values.items():
            text = _scalar_text(value)
            if text is not None:
                result[name] = text
        return result


def parse_port(text: str, name: str, settings: Settings) -> int:
    """A port number written in `text`, e.g. one part of a static address."""
    return read_port(text, name, component=settings.component)


def _scalar_text(value: object) -> str | None:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
