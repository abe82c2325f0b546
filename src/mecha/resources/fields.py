"""Node: typed reads of a YAML document that know their dotted path for error messages.

Field names match as daprd's JSON decoding matches them: exactly first, then ignoring case.
Scalars read as strings follow daprd too (`10` reads as `"10"`, `true` as `"true"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mecha.resources.errors import ResourceError
from mecha.resources.values import UnsupportedValueError, kind_of, scalar_text

if TYPE_CHECKING:
    from mecha.resources.models import SourceRef

MISSING_MESSAGE = "required field is missing"


@dataclass(frozen=True, slots=True)
class Node:
    value: object
    path: str
    source: SourceRef

    def error(self, message: str) -> ResourceError:
        return ResourceError(message, source=self.source, field=self.path or None)

    def __getitem__(self, key: str) -> Node:
        """The node at `key` of this mapping; an absent key gives a null node."""
        mapping = self.mapping()
        value = mapping.get(key)
        if key not in mapping:
            folded = key.casefold()
            value = next(
                (v for k, v in mapping.items() if isinstance(k, str) and k.casefold() == folded),
                None,
            )
        return Node(value, f"{self.path}.{key}" if self.path else key, self.source)

    @property
    def is_null(self) -> bool:
        return self.value is None

    def mapping(self) -> dict[object, object]:
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, found {kind_of(self.value)}")
        return self.value

    def entries(self) -> list[tuple[str, Node]]:
        """The (key, node) pairs of a mapping whose keys are names."""
        result = []
        for key, value in self.mapping().items():
            name = scalar_text(key)
            if name is None:
                raise self.error(f"a key cannot be {kind_of(key)}")
            result.append((name, Node(value, f"{self.path}.{name}", self.source)))
        return result

    def items(self) -> list[Node]:
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, found {kind_of(self.value)}")
        return [Node(v, f"{self.path}[{i}]", self.source) for i, v in enumerate(self.value)]

    def text(self, default: str = "") -> str:
        if self.value is None:
            return default
        try:
            text = scalar_text(self.value)
        except UnsupportedValueError as error:
            raise self.error(str(error)) from None
        if text is None:
            raise self.error(f"expected a string, found {kind_of(self.value)}")
        return text

    def required_text(self) -> str:
        if self.value is None:
            raise self.error(MISSING_MESSAGE)
        text = self.text()
        if not text:
            raise self.error("must not be empty")
        return text

    def optional_text(self) -> str | None:
        """The text, or None when the field is absent or empty."""
        return self.text() or None

    def boolean(self, default: bool = False) -> bool:
        if self.value is None:
            return default
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, found {kind_of(self.value)}")
        return self.value

    def integer(self, default: int = 0) -> int:
        if self.value is None:
            return default
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.error(f"expected a whole number, found {kind_of(self.value)}")
        return self.value

    def optional_integer(self) -> int | None:
        return None if self.value is None else self.integer()

    def texts(self) -> tuple[str, ...]:
        """A list of strings (null items are refused: daprd would read them as empty)."""
        result = []
        for item in self.items():
            if item.is_null:
                raise item.error("expected a string, found null")
            result.append(item.text())
        return tuple(result)

    def text_map(self) -> dict[str, str]:
        """A mapping of names to strings."""
        return {name: node.text() for name, node in self.entries()}
