"""The Jinja2 environment templates run in: sandboxed, immutable, deterministic and bounded.

Templates are code written by people, and a campaign file may come from someone not fully
trusted. Rendering one post must end soon, in little memory, the same way every time:

- Jinja's immutable sandbox: no Python internals, no changing lists or dicts in place.
- No randomness and no clock: `random` and `lipsum` say how to pick instead; dates offer their
  fields and `strftime`, not `now()` or the machine's time zone (`astimezone()`).
- Every value a template builds stays within `campaign.bounds`: operators (`*`, `**`, `+`, `%`),
  padding and joining (`center`, `indent`, `format`, `replace`, `join`, `batch`, ...) are checked
  *before* they run, list and dict literals after (`[a, a]` doubled forty times).
- The text a render writes is counted in every buffer (output, macros, blocks): `MAX_OUTPUT`.
- Only text, numbers and dates are written: `{{ range }}` or `{{ cycler() }}` would print a
  function or an object with a memory address, different in every run.
- Templates are read only from inside the template root (links that leave it are refused), only
  as regular files of at most `MAX_TEMPLATE_BYTES`, only as UTF-8.

Jinja folds constant expressions at compile time, but never an intercepted operator nor a
filter that takes the context: every bounded operation (`{{ 9**(9**9) }}`) is checked when it is
rendered, like anything else, instead of computed while compiling. Time is bounded by
`campaign.deadline`, in `campaign.render`.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Iterator
from datetime import date, time, timedelta, tzinfo
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.nodes import Concat, Const, Dict, Impossible, List, Output, Tuple
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaign.bounds import (
    MAX_BITS,
    MAX_TEXT,
    Refused,
    as_text,
    bounded,
    check_braces,
    check_filter,
    check_method,
    check_percent,
    check_power,
    check_repeat,
    too_large,
    writable,
    written_size,
)
from campaign.terminal import quoted

MAX_OUTPUT = 200_000  # written by one render, counting macros and blocks
MAX_TEMPLATE_BYTES = 1024 * 1024

# Filters for HTML pages or chance, not for posts.
_REMOVED_FILTERS = ("urlize", "xmlattr", "forceescape")
# Filters that only pick, count or reorder what they are given: they cannot build anything
# larger than their input, nor write an object out, so they run unchecked (and fast).
_PLAIN_FILTERS = frozenset(
    {
        "abs",
        "attr",
        "count",
        "d",
        "default",
        "dictsort",
        "first",
        "float",
        "groupby",
        "int",
        "items",
        "last",
        "length",
        "list",
        "map",
        "max",
        "min",
        "reject",
        "rejectattr",
        "reverse",
        "round",
        "select",
        "selectattr",
        "sort",
        "sum",
        "unique",
        "wordcount",
    }
)
# What a template may read from a date, a date-time or a time: its fields and formatting.
_DATE_ATTRIBUTES = frozenset(
    {
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "microsecond",
        "fold",
        "tzinfo",
        "weekday",
        "isoweekday",
        "isocalendar",
        "isoformat",
        "strftime",
        "date",
        "time",
        "timetz",
        "tzname",
        "utcoffset",
        "dst",
        "replace",
        "ctime",
        "timestamp",
        "toordinal",
        "days",
        "seconds",
        "microseconds",
        "total_seconds",
    }
)
_DATES = (date, time, timedelta)
_ZONE_ATTRIBUTES = frozenset({"key", "utcoffset", "tzname", "dst"})


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the bounds described in this module's docstring.

    Not thread-safe: `written` counts the current render's output.
    """

    intercepted_binops = frozenset({"+", "*", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.code_generator_class = _BoundedCodeGenerator
        self.template_class = _BoundedTemplate
        self.written = 0  # characters the current render wrote
        # Chance would change a text between two previews, and the post's id would not say so.
        self.globals["lipsum"] = _by_chance
        self.filters["random"] = _by_chance
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        for name, function in list(self.filters.items()):
            if name not in _PLAIN_FILTERS:
                self.filters[name] = _bounded_filter(name, function)

    # -- what a template may reach --------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _DATES) and attr not in _DATE_ATTRIBUTES:
            return False  # `now()`, `today()`, `astimezone()`: the clock and the machine's zone
        if isinstance(obj, tzinfo) and attr not in _ZONE_ATTRIBUTES:
            return False  # `clear_cache()` and other class methods of ZoneInfo
        return super().is_safe_attribute(obj, attr, value)

    # Double underscores, as in Jinja: a template may pass keyword arguments of any name.
    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(getattr(__obj, "__self__", None), (str, bytes)):
            args = check_method(__obj, args, kwargs)
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        result = __context.call(__obj, *args, **kwargs)
        if type(result) is str and len(result) <= MAX_TEXT:
            return result  # the usual case, at once
        return bounded(result, "a call")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            check_repeat(left, right)
        elif operator == "**":
            check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            check_percent(left, right)
        try:
            result = self.binop_table[operator](left, right)
        except OverflowError:
            raise too_large(f"'{operator}'") from None
        if type(result) is int and result.bit_length() <= MAX_BITS:
            return result  # the usual case, at once
        if type(result) is float and not math.isfinite(result) and _finite(left) and _finite(right):
            raise too_large(f"'{operator}'")
        return bounded(result, f"'{operator}'")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template: str = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            check_braces(template)
            writable(args, "format")
            writable(kwargs, "format")
            try:
                text = str(wrapper(*args, **kwargs))
            except OverflowError:  # `"{:f}".format(10**400)`
                raise too_large("format") from None
            return bounded(text, "format")

        return checked

    # -- what a render writes -------------------------------------------------------------------

    def _finalize(self, value: Any) -> str:
        """Every `{{ ... }}` of a render: only text, numbers and dates; counted.

        Jinja also finalizes constants at compile time: that count is reset when a render starts.
        """
        text = value if type(value) is str else as_text(value, "{{ ... }}")
        self.written += len(text)
        if self.written > MAX_OUTPUT:
            self.counted("")
        return text

    def counted(self, text: str) -> str:
        """Count text a render writes (its literal parts reach here through the code generator)."""
        self.written += len(text)
        if self.written > MAX_OUTPUT:
            raise Refused(
                f"the template writes more than {MAX_OUTPUT:,} characters for one post (counting "
                "every loop and macro): look for a loop that runs more often than meant"
            )
        return text

    def joined(self, values: tuple[Any, ...]) -> str:
        """`a ~ b`: each part written as `{{ }}` would, and the result bounded."""
        return bounded("".join(v if type(v) is str else as_text(v, "'~'") for v in values), "'~'")

    def literal(self, value: Any) -> Any:
        """A list, tuple or dict written in the template, with variables in it."""
        written_size(value, "a list or dict", undefined=True)
        return value

    # -- compiling ------------------------------------------------------------------------------

    def compile(  # one signature for both of Jinja's overloads
        self,
        source: str | jinja2.nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        """Jinja's compile; nesting or complexity that Python refuses is a syntax error at the
        line most likely to blame.

        Raises:
            jinja2.TemplateSyntaxError: the template is invalid, too deep or too complex.
        """
        try:
            return super().compile(source, name, filename, raw, defer_init)  # type: ignore[call-overload]
        except (RecursionError, SyntaxError, MemoryError):
            line = _hardest_line(self, source) if isinstance(source, str) else 1
            raise jinja2.TemplateSyntaxError(
                "too deeply nested or too complex to compile: split it into smaller "
                "expressions, macros or templates",
                line,
                name,
                filename,
            ) from None


class _BoundedTemplate(jinja2.Template):
    """A template whose every render counts its own output from zero."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        self.environment.written = 0  # type: ignore[attr-defined]  # a BoundedEnvironment
        return super().render(*args, **kwargs)


class RootedLoader(jinja2.BaseLoader):
    """Loads templates from inside `root` only: no `..`, no link that leads outside, no device,
    no file larger than `MAX_TEMPLATE_BYTES`, UTF-8 only."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)  # refuses `..`
        path = os.path.realpath(os.path.join(self.root, *pieces))
        if os.path.commonpath([path, self.root]) != self.root:
            raise Refused(
                f"template {quoted(template)} leads outside the template folder (through a "
                "link): keep templates inside it"
            )
        try:
            status = os.stat(path)
        except FileNotFoundError:
            raise jinja2.TemplateNotFound(template) from None
        except OSError as exc:
            raise Refused(f"template {quoted(template)} cannot be opened: {exc.strerror}") from None
        if not stat.S_ISREG(status.st_mode):
            raise Refused(f"template {quoted(template)} is not a regular file")
        if status.st_size > MAX_TEMPLATE_BYTES:
            raise Refused(
                f"template {quoted(template)} has {status.st_size:,} bytes, more than the "
                f"{MAX_TEMPLATE_BYTES:,} a template may have: split it"
            )
        with open(path, "rb") as stream:
            raw = stream.read(MAX_TEMPLATE_BYTES + 1)
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise Refused(
                f"template {quoted(template)} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on "
                f"line {line}): save it as UTF-8"
            ) from None
        return source, path, lambda: True


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, routing the costs the sandbox cannot see through the environment:
    literal output in loops and macros (counted), `~` (bounded), literals holding variables
    (measured)."""

    _repeated = False  # the output being written may run many times per render

    def visit_Output(self, node: Output, frame: Frame) -> None:
        # Text written once per render (outside loops, macros and blocks) is bounded by the
        # template's size; counting it would only slow every render.
        self._repeated = not frame.toplevel
        super().visit_Output(node, frame)

    def _output_const_repr(self, group: Any) -> str:
        text = super()._output_const_repr(group)
        return f"environment.counted({text})" if self._repeated else text

    def visit_Const(self, node: Const, frame: Frame) -> None:
        value = node.as_const(frame.eval_ctx)
        if isinstance(value, float) and not math.isfinite(value):
            # `1e400` and folded constants such as `1e308 * 10`: Python has no literal for
            # inf and nan, and Jinja would write the name `inf`; the render then refuses it.
            self.write(f"float({str(value)!r})")
        else:
            super().visit_Const(node, frame)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: List, frame: Frame) -> None:
        self._literal(node, frame, super().visit_List)

    def visit_Dict(self, node: Dict, frame: Frame) -> None:
        self._literal(node, frame, super().visit_Dict)

    def visit_Tuple(self, node: Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # a target, as in `{% for a, b in pairs %}`
            super().visit_Tuple(node, frame)
        else:
            self._literal(node, frame, super().visit_Tuple)

    def _literal(self, node: Any, frame: Frame, write: Callable[[Any, Frame], None]) -> None:
        try:
            node.as_const(frame.eval_ctx)
        except Impossible:
            self.write("environment.literal(")
            write(node, frame)
            self.write(")")
        else:
            write(node, frame)  # only constants: as large as the template's own text


@jinja2.pass_context  # also keeps Jinja from calling it at compile time
def _by_chance(context: Context, *args: Any, **kwargs: Any) -> Any:
    raise Refused(
        "random and lipsum would give a different text in every preview: pick by the post's "
        "number instead, e.g. {{ tips[occurrence % tips | length] }}"
    )


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its arguments checked before and its result after.

    Taking the context also keeps Jinja from running the filter at compile time.
    """
    passes = getattr(getattr(function, "jinja_pass_arg", None), "name", None)

    @jinja2.pass_context
    def checked(context: Context, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], Iterator):  # `map(...) | join`: measure what it yields
            args = (list(args[0]), *args[1:])
        check_filter(name, args, kwargs)
        try:
            if passes == "context":
                result = function(context, *args, **kwargs)
            elif passes == "eval_context":
                result = function(context.eval_ctx, *args, **kwargs)
            elif passes == "environment":
                result = function(context.environment, *args, **kwargs)
            else:
                result = function(*args, **kwargs)
        except OverflowError:  # `(10**400) | float`
            raise too_large(f"|{name}") from None
        return bounded(result, f"|{name}")

    return checked


def _finite(value: Any) -> bool:
    """Whether `value` is no float past the largest one (inf) nor nan; other values are."""
    return not isinstance(value, float) or math.isfinite(value)


def _hardest_line(environment: jinja2.Environment, source: str) -> int:
    """The line of the tag most likely to be too deep or too complex: the deepest block, else
    the tag with the most tokens."""
    depth, deepest, deepest_line = 0, 0, 1
    tokens, most, most_line, expect_name = 0, 0, 1, False
    try:
        for line, kind, value in environment.lex(source):
            if kind in ("block_begin", "variable_begin"):
                tokens, expect_name = 0, kind == "block_begin"
                continue
            tokens += 1
            if tokens > most:
                most, most_line = tokens, line
            if expect_name and kind == "name":
                expect_name = False
                if value.startswith("end"):
                    depth -= 1
                elif value in ("if", "for", "macro", "call", "filter", "with", "block"):
                    depth += 1
                    if depth > deepest:
                        deepest, deepest_line = depth, line
    except jinja2.TemplateSyntaxError as exc:
        return exc.lineno
    return deepest_line if deepest > 10 else most_line
