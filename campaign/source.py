"""Reading a campaign file: YAML to plain data, remembering the line each key and item came from.

A campaign file may come from someone not fully trusted, so reading it is bounded: the file's
size, how deep it nests, how far its aliases expand, and how long one value may be. Whatever is
wrong ends in a `Problem` at its line, never in an exception from the YAML library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from campaign.errors import DefinitionError, Problem
from campaign.terminal import control_characters, quoted

Location = tuple[str | int, ...]

# Far above any real campaign (the flagship file is 10 KB with a few hundred values).
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 50
# Values built from the file, counting every expansion of an alias: "billion laughs" stops here.
MAX_VALUES = 100_000
# Longer than any platform's post (Facebook: 63,206); longer texts belong in templates.
MAX_VALUE_CHARACTERS = 100_000

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class SourceMap:
    """Where each part of a campaign file was written: a path of keys/indexes -> 1-based line."""

    file: str
    lines: dict[Location, int] = field(default_factory=dict)
    # Unquoted scalars that YAML read as something other than text (`no` -> false,
    # `22:00` -> 1320), as written, so that a message can say what YAML made of them.
    written: dict[Location, str] = field(default_factory=dict)

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
        DefinitionError: the file is missing, unreadable, too large, not UTF-8 text, not YAML,
            repeats a key, nests or expands too far, or holds a value that cannot be read.
    """
    name = display or str(path)
    text = _read_text(path, name)
    source = SourceMap(name)
    problems: list[Problem] = []
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise DefinitionError([Problem(name, None, "the file is empty")])
        data = _Builder(loader, source, problems).build(node, (), frozenset())
    except _Refused as exc:
        raise DefinitionError([Problem(name, exc.line, exc.message)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        character = control_characters(chr(exc.character)) or [f"U+{exc.character:04X}"]
        raise DefinitionError(
            [
                Problem(
                    name,
                    line,
                    f"the control character {character[0]} is not allowed in a campaign file: "
                    "remove it (was the file saved as text?)",
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        at = mark.line + 1 if mark else None
        raise DefinitionError(
            [Problem(name, at, f"invalid YAML: {reason} (check indentation and quoting)")]
        ) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(name, None, f"invalid YAML: {exc}")]) from None
    except RecursionError:  # a last resort: the bounds above should come first
        raise DefinitionError(
            [Problem(name, None, "the file nests too deeply to read: flatten it")]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise DefinitionError(problems)
    return data, source


def _read_text(path: Path, name: str) -> str:
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            # Reading a pipe without a writer, or a device, would wait or read forever.
            raise DefinitionError(
                [Problem(name, None, "is not a regular file (a pipe or a device): give a file")]
            )
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DefinitionError([Problem(name, None, "file not found")]) from None
    except IsADirectoryError:
        raise DefinitionError([Problem(name, None, "is a folder, not a campaign file")]) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DefinitionError([Problem(name, None, f"cannot read the file: {reason}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise DefinitionError(
            [
                Problem(
                    name,
                    None,
                    f"the file is larger than {MAX_FILE_BYTES:,} bytes, the most a campaign file "
                    "may have: move long texts into templates",
                )
            ]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DefinitionError(
            [
                Problem(
                    name,
                    line,
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot start a "
                    "character here): save it as UTF-8",
                )
            ]
        ) from None


class _Refused(Exception):
    """The file is beyond a bound; ends reading at once (internal to this module)."""

    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose nodes nested deeper than `MAX_DEPTH`.

    PyYAML composes nested collections recursively: without a bound, `[[[[...` five thousand
    levels deep ends in a RecursionError.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(
                    mark.line + 1,
                    f"the file nests deeper than {MAX_DEPTH} levels: flatten this part",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Turns composed nodes into plain data, recording lines and keeping within the bounds."""

    def __init__(self, loader: _BoundedLoader, source: SourceMap, problems: list[Problem]):
        self.loader = loader
        self.source = source
        self.problems = problems
        self.values = 0

    def build(self, node: yaml.Node, location: Location, ancestors: frozenset[int]) -> Any:
        line = node.start_mark.line + 1
        self.source.lines.setdefault(location, line)
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(
                line,
                f"aliases expand the file to more than {MAX_VALUES:,} values: write the "
                "repeated parts out, or nest fewer aliases",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, location)
        if id(node) in ancestors:
            raise _Refused(
                self.source.line_of(location),
                "this alias refers to a collection that contains it, which never ends: "
                "remove the loop",
            )
        if len(location) > MAX_DEPTH:
            raise _Refused(
                line, f"aliases nest this part deeper than {MAX_DEPTH} levels: flatten it"
            )
        inside = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, (*location, index), inside)
                for index, item in enumerate(node.value)
            ]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, location, inside)
        raise _Refused(line, "unexpected YAML node")  # PyYAML has no other kind

    def _mapping(
        self, node: yaml.MappingNode, location: Location, inside: frozenset[int]
    ) -> dict[Any, Any]:
        if _merges_into_itself(node, frozenset()):
            raise _Refused(
                node.start_mark.line + 1,
                "a merge key (<<) brings in a mapping that contains it, which never ends: "
                "remove the loop",
            )
        self.loader.flatten_mapping(node)  # resolves `<<` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(self.source.file, key_line, "keys must be plain text"))
                continue
            key = self._scalar(key_node, None)
            if not isinstance(key, str | int):
                self.problems.append(Problem(self.source.file, key_line, "keys must be plain text"))
                continue
            child = (*location, key)
            if key in result:
                self.problems.append(
                    Problem(
                        self.source.file,
                        key_line,
                        f"duplicate key {quoted(key)} "
                        f"(first written on line {self.source.lines[child]})",
                    )
                )
                continue
            # A key's own line is where readers look for it, not where its value starts.
            self.source.lines[child] = key_line
            result[key] = self.build(value_node, child, inside)
        return result

    def _scalar(self, node: yaml.ScalarNode, location: Location | None) -> Any:
        line = node.start_mark.line + 1
        if len(node.value) > MAX_VALUE_CHARACTERS:
            raise _Refused(
                line,
                f"a value of {len(node.value):,} characters is too long (at most "
                f"{MAX_VALUE_CHARACTERS:,}): move long texts into templates",
            )
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:
            raise _Refused(line, _unreadable(node, exc)) from None
        if isinstance(value, str):
            controls = control_characters(value)
            if controls:
                raise _Refused(
                    line,
                    f"{quoted(value)} holds the control character(s) {', '.join(controls)}: "
                    "remove them",
                )
        elif location is not None and node.style is None and node.tag != _STR_TAG:
            self.source.written[location] = node.value
        return value


def _unreadable(node: yaml.ScalarNode, exc: Exception) -> str:
    """Why a scalar YAML resolved (a date, a number) cannot be built, and what to do."""
    if node.tag == _TIMESTAMP_TAG:
        return (
            f"{quoted(node.value)} is not a real date: fix it, or put it in quotes if it is "
            "meant as text"
        )
    if node.tag == _INT_TAG:
        return f"the number {quoted(node.value, limit=20)} is too large: write a smaller one"
    return f"{quoted(node.value)} cannot be read: {exc}"


def _merges_into_itself(node: yaml.MappingNode, seen: frozenset[int]) -> bool:
    """True when following `<<` merge keys from `node` leads back to a mapping on the way."""
    if id(node) in seen:
        return True
    seen = seen | {id(node)}
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            continue
        merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for item in merged:
            if isinstance(item, yaml.MappingNode) and _merges_into_itself(item, seen):
                return True
    return False
