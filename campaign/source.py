"""Reading a campaign file: YAML to plain data, remembering the line each key and item came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from campaign.errors import DefinitionError, Problem

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceMap:
    """Where each part of a campaign file was written: a path of keys/indexes -> 1-based line."""

    file: str
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Sequence[str | int]) -> int | None:
        """The line of `location`, or of its nearest written ancestor."""
        path = tuple(location)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def problem(self, location: Sequence[str | int], message: str) -> Problem:
        return Problem(self.file, self.line_of(location), message)


def load_yaml(path: Path, *, display: str | None = None) -> tuple[Any, SourceMap]:
    """Parse `path` as YAML with a map of source lines.

    Raises:
        DefinitionError: the file is missing, unreadable, not YAML, or repeats a key.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem(name, None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(name, None, f"cannot read the file: {exc}")]) from None

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise DefinitionError([Problem(name, None, "the file is empty")])
        source = SourceMap(name)
        problems: list[Problem] = []
        data = _to_data(loader, node, (), source, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise DefinitionError(
            [Problem(name, line, f"invalid YAML: {reason} (check indentation and quoting)")]
        ) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(name, None, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise DefinitionError(problems)
    return data, source


def _to_data(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    location: Location,
    source: SourceMap,
    problems: list[Problem],
) -> Any:
    source.lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                problems.append(
                    Problem(source.file, key_node.start_mark.line + 1, "keys must be plain text")
                )
                continue
            child = (*location, key)
            if key in result:
                problems.append(
                    Problem(
                        source.file,
                        key_node.start_mark.line + 1,
                        f"duplicate key '{key}' (first written on line {source.lines[child]})",
                    )
                )
                continue
            # A key's own line is where readers look for it, not where its value starts.
            source.lines[child] = key_node.start_mark.line + 1
            result[key] = _to_data(loader, value_node, child, source, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_data(loader, item, (*location, index), source, problems)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
