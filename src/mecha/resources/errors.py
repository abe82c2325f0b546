"""ResourceError: the one error every bad resource file, document or field becomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mecha.resources.models import SourceRef


class ResourceError(Exception):
    """A resource that cannot be used, with where it came from and which field is wrong.

    `str()` is one line: `components/redis.yaml (document 2): spec.type: required field is missing`.
    """

    def __init__(
        self, message: str, *, source: SourceRef | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.field = field

    def __str__(self) -> str:
        parts = [str(part) for part in (self.source, self.field) if part]
        return ": ".join([*parts, self.message])

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.message, self.source, self.field))


def _rebuild(message: str, source: SourceRef | None, field: str | None) -> ResourceError:
    return ResourceError(message, source=source, field=field)
