"""Reading a YAML file into its documents, each tagged with where it came from.

YAML is read as daprd reads it in the ways that change values: date-like scalars stay strings.
Beyond that, problems daprd would pass over silently are errors here: a key given twice in one
mapping, and aliases that expand into an enormous or self-referencing value.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from mecha.resources.errors import ResourceError
from mecha.resources.models import SourceRef

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Nodes a document may expand to once aliases are followed; real resources are far smaller.
MAX_EXPANDED_NODES = 200_000


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            # Keys brought in by `<<` merges may be overridden; only written keys must be unique.
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ResourceError(f'cannot read "{path}": {error.strerror or error}') from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ResourceError(f'cannot read "{path}": not UTF-8 text (byte {error.start})') from None


def parse_documents(text: str, file: Path) -> Iterator[tuple[SourceRef, object]]:
    """Each document of a YAML stream (None for an empty one), numbered from 1."""
    loader = _Loader(text)
    try:
        index = 0
        while True:
            index += 1
            source = SourceRef(file, index)
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
                _check_expansion(node, source)
                data = loader.construct_document(node)
            except yaml.YAMLError as error:
                raise ResourceError(_yaml_message(error), source=source) from None
            except RecursionError:
                raise ResourceError("invalid YAML: nested too deeply", source=source) from None
            yield source, data
    finally:
        loader.dispose()


def _yaml_message(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        context = f" ({error.context})" if error.context else ""
        return f"invalid YAML at {where}: {error.problem}{context}"
    return "invalid YAML: " + " ".join(str(error).split())


def _check_expansion(root: yaml.Node | None, source: SourceRef) -> None:
    """Refuse documents whose aliases refer to themselves or multiply into a huge value."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise ResourceError("invalid YAML: an alias refers to itself", source=source)
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        in_progress.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise ResourceError(
                f"invalid YAML: the document expands to more than {MAX_EXPANDED_NODES} values",
                source=source,
            )
        sizes[key] = total
        return total

    size(root)
