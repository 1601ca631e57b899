"""The Jinja2 environment templates run in: sandboxed, immutable, deterministic and bounded.

Templates are code written by people, and a campaign file may come from someone not fully
trusted. Rendering one post must end soon, in little memory, the same way every time:

- Jinja's immutable sandbox: no Python internals, no changing lists or dicts in place.
- No randomness and no clock: `random` and `lipsum` are gone; dates offer their fields and
  `strftime`, not `now()` or the machine's time zone (`astimezone()`).
- Every value a template builds stays under `MAX_TEXT` characters as written out: operators
  (`*`, `**`, `+`, `%`), padding and joining (`center`, `indent`, `format`, `replace`, `join`,
  `batch`, ...) are checked *before* they run, list and dict literals after (`[a, a]` doubled forty
  times), and numbers stay under `MAX_DIGITS` digits.
- The text a render writes is counted in every buffer (output, macros, blocks): `MAX_OUTPUT`.
- Only text, numbers and dates are written: `{{ range }}` or `{{ cycler() }}` would print a
  function or an object with a memory address, different in every run.
- Templates are read only from inside the template root (links that leave it are refused), only
  as regular files of at most `MAX_TEMPLATE_BYTES`, only as UTF-8.

Jinja folds constant expressions at compile time; none of the bounded operations is folded:
intercepted operators and filters that take the context are never folded by Jinja, and output
is finalized with the context, so `{{ 9**(9**9) }}` is checked when rendered like anything else.
Time is bounded by `campaign.deadline`, in `campaign.render`.
"""

from __future__ import annotations

import math
import os
import re
import stat
import string
from collections.abc import Callable, Iterator, Sized
from datetime import date, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.nodes import Concat, Dict, Impossible, List, Output, Tuple
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaign.terminal import quoted

MAX_TEXT = 100_000  # longer than any platform's post (Facebook: 63,206)
MAX_OUTPUT = 200_000  # written by one render, counting macros and blocks
MAX_DIGITS = 1_000
MAX_TEMPLATE_BYTES = 1024 * 1024
T = TypeVar("T")
_MAX_BITS = int(MAX_DIGITS * math.log2(10))

# Filters for HTML pages or chance, not for posts.
_REMOVED_FILTERS = ("random", "urlize", "xmlattr", "forceescape")
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
_WRITABLE = (str, int, float, Decimal, date, time, timedelta, tzinfo, range, type(None))
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")


class Refused(Exception):
    """Raised inside a render when a template goes past a bound; the message says what to do."""


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
        del self.globals["lipsum"]
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
        if isinstance(getattr(__obj, "__self__", None), str | bytes):
            args = _check_method(__obj, args, kwargs)
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        result = __context.call(__obj, *args, **kwargs)
        if type(result) is str and len(result) <= MAX_TEXT:
            return result  # the usual case, at once
        return _bounded(result, "a call")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        result = self.binop_table[operator](left, right)
        if type(result) is int and result.bit_length() <= _MAX_BITS:
            return result  # the usual case, at once
        return _bounded(result, f"'{operator}'")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template: str = value.__self__

        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_braces(template)
            _writable(args, "format")
            _writable(kwargs, "format")
            return _bounded(str(wrapper(*args, **kwargs)), "format")

        return bounded

    # -- what a render writes -------------------------------------------------------------------

    def _finalize(self, value: Any) -> str:
        """Every `{{ ... }}` of a render: only text, numbers and dates; counted.

        Jinja also finalizes constants at compile time: that count is reset when a render starts.
        """
        text = value if type(value) is str else _text(value, "{{ ... }}")
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
        return _bounded("".join(v if type(v) is str else _text(v, "'~'") for v in values), "'~'")

    def literal(self, value: Any) -> Any:
        """A list, tuple or dict written in the template, with variables in it."""
        _written_size(value, "a list or dict", undefined=True)
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


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its arguments checked before and its result after.

    Taking the context also keeps Jinja from running the filter at compile time.
    """
    passes = getattr(getattr(function, "jinja_pass_arg", None), "name", None)

    @jinja2.pass_context
    def bounded(context: Context, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], Iterator):  # `map(...) | join`: measure what it yields
            args = (list(args[0]), *args[1:])
        _check_filter(name, args, kwargs)
        if passes == "context":
            result = function(context, *args, **kwargs)
        elif passes == "eval_context":
            result = function(context.eval_ctx, *args, **kwargs)
        elif passes == "environment":
            result = function(context.environment, *args, **kwargs)
        else:
            result = function(*args, **kwargs)
        return _bounded(result, f"|{name}")

    return bounded


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """What a filter would build, before it builds it. `args[0]` is the filtered value."""
    value = args[0] if args else None
    where = f"|{name}"
    _writable(args[:1], where)
    if name == "center":
        _check_width(_argument(args, kwargs, 1, "width", 80), where)
    elif name == "indent":
        width = _argument(args, kwargs, 1, "width", 4)
        each = len(width) if isinstance(width, str) else _check_width(width, where)
        _check_total((str(value).count("\n") + 1) * each, where)
    elif name == "format":
        _check_percent(str(value), args[1:] or kwargs)
    elif name == "replace":
        _check_replace(str(value), args[1:], where)
    elif name == "join":
        separator = str(_argument(args, kwargs, 1, "d", ""))
        _check_total(len(separator) * _length(value), where)
    elif name == "batch":
        _check_width(_argument(args, kwargs, 1, "linecount", 1), where)
    elif name == "slice":
        _check_width(_argument(args, kwargs, 1, "slices", 1), where)
    elif name == "wordwrap":
        width = _check_width(_argument(args, kwargs, 1, "width", 79), where)
        wrap = _argument(args, kwargs, 3, "wrapstring", None) or "\n"
        _check_total(len(str(wrap)) * (len(str(value)) // max(width, 1) + 1), where)
    elif name == "tojson":
        _check_width(_argument(args, kwargs, 1, "indent", 0) or 0, where, at_most=16)
    elif name == "truncate":
        _check_width(_argument(args, kwargs, 1, "length", 255), where)


def _check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Methods of text that pad, repeat or join: checked like the filters of the same name.

    Returns the arguments to call with (what a generator yields, as a list, to measure it).
    """
    owner = method.__self__
    name = getattr(method, "__name__", "")
    where = f".{name}()"
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_width(_argument(args, kwargs, 0, "width", 0), where)
    elif name == "expandtabs":
        tab = _check_width(_argument(args, kwargs, 0, "tabsize", 8), where)
        _check_total(owner.count(b"\t" if isinstance(owner, bytes) else "\t") * tab, where)
    elif name == "replace" and isinstance(owner, str):
        _check_replace(owner, args, where)
    elif name == "join" and args:
        items = args[0] if isinstance(args[0], Sized) else list(args[0])
        _check_total(len(owner) * len(items), where)
        args = (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(str(v)) for v in args[0].values() if v is not None), default=1)
        _check_total(len(owner) * longest, where)
    return args


def _argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any
) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_width(width: Any, where: str, *, at_most: int = MAX_TEXT) -> int:
    if isinstance(width, int) and width > at_most:
        raise Refused(f"{where} with {width:,} would build more than {at_most:,} characters")
    return width if isinstance(width, int) else 0


def _check_total(size: int, where: str) -> None:
    if size > MAX_TEXT:
        raise Refused(
            f"{where} would build about {size:,} characters, more than the {MAX_TEXT:,} a "
            "value may have"
        )


def _check_replace(text: str, args: tuple[Any, ...], where: str) -> None:
    if len(args) < 2:
        return
    old, new = str(args[0]), str(args[1])
    times = text.count(old) if old else len(text) + 1
    _check_total(len(text) + times * max(len(new) - len(old), 0), where)


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_BITS:
            raise Refused(f"'*' would make a number of more than {MAX_DIGITS:,} digits")
        return
    times, sequence = (left, right) if isinstance(left, int) else (right, left)
    if isinstance(times, int) and isinstance(sequence, str | bytes | list | tuple) and times > 0:
        each = len(sequence) if isinstance(sequence, str | bytes) else _size_of(sequence)
        _check_total(each * times, "'*'")


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) < 2:
        return  # a float result overflows at once (OverflowError) instead of growing
    if exponent * math.log2(abs(base)) > _MAX_BITS:
        raise Refused(f"'**' would make a number of more than {MAX_DIGITS:,} digits")


def _check_percent(template: str, arguments: Any) -> None:
    """`"%05d" % n` and `|format`: widths and precisions within bounds, values writable."""
    for width, precision in _PERCENT_SPEC.findall(template):
        for number in (width, precision):
            if number == "*":
                raise Refused("'%' with a width from the arguments ('*'): write the width")
            if number and int(number) > MAX_TEXT:
                raise Refused(f"'%' with a width of {int(number):,} would build too much text")
    _writable(arguments, "'%'")


def _check_braces(template: str) -> None:
    """`"{:>9999999}".format(x)`: widths within bounds, and no width taken from arguments."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise Refused(f"format: {exc}") from None
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            raise Refused("format with a width from the arguments ('{:{w}}'): write the width")
        for number in _NUMBER.findall(spec):
            if int(number) > MAX_TEXT:
                raise Refused(f"format with a width of {int(number):,} would build too much text")


def _bounded(result: T, where: str) -> T:
    """`result`, if it is within the bounds of a value."""
    if isinstance(result, str | bytes):
        if len(result) > MAX_TEXT:
            _check_total(len(result), where)
    elif isinstance(result, int):
        if result.bit_length() > _MAX_BITS:
            raise Refused(f"{where} made a number of more than {MAX_DIGITS:,} digits")
    elif isinstance(result, list | tuple | dict):
        _written_size(result, where)
    return result


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 1


def _size_of(value: Any) -> int:
    return _written_size(value, "a value")


def _written_size(value: Any, where: str, *, undefined: bool = False) -> int:
    """About how many characters `value` takes written out, every repeat of a shared part
    counted, found in time proportional to its distinct parts. Refuses more than MAX_TEXT."""
    sizes: dict[int, int] = {}

    def size(item: Any, depth: int) -> int:
        if isinstance(item, str | bytes):
            return len(item) + 2
        if isinstance(item, int):
            return item.bit_length() // 3 + 1
        if isinstance(item, jinja2.Undefined):
            if undefined:
                item._fail_with_undefined_error()
            return 9
        if not isinstance(item, list | tuple | dict | set | frozenset):
            return 8
        key = id(item)
        if key in sizes:
            return sizes[key]
        if depth > 100:
            raise Refused(f"{where} nests deeper than 100 levels")
        sizes[key] = 0
        parts: Iterator[Any] = (
            (part for pair in item.items() for part in pair)
            if isinstance(item, dict)
            else iter(item)
        )
        total = 2 + sum(size(part, depth + 1) + 2 for part in parts)
        sizes[key] = total
        return total

    total = size(value, 0)
    if total > MAX_TEXT:
        raise Refused(
            f"{where} builds a value of about {total:,} characters written out, more than the "
            f"{MAX_TEXT:,} a value may have"
        )
    return total


def _text(value: Any, where: str) -> str:
    """`value` written as text, if it is something a post may contain."""
    _writable((value,), where)
    if isinstance(value, list | tuple | dict | set | frozenset):
        _written_size(value, where)
    return str(value)


def _writable(values: Any, where: str) -> None:
    """Refuse functions, methods and objects whose text would be a memory address."""
    stack = [values]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, _WRITABLE):
            continue
        if isinstance(item, jinja2.Undefined):
            item._fail_with_undefined_error()
        if isinstance(item, list | tuple | set | frozenset | dict):
            if id(item) not in seen:
                seen.add(id(item))
                stack.extend(item.items() if isinstance(item, dict) else item)
            continue
        if isinstance(item, Iterator):
            raise Refused(
                f"{where} writes a sequence not yet taken apart into the text: add "
                "| join(', ') or | list"
            )
        kind = "a function" if callable(item) else f"a {type(item).__name__} object"
        raise Refused(
            f"{where} writes {kind} into the text, which is not a value: call it, or write one "
            "of its values (e.g. local_time.strftime('%d.%m.%Y'))"
        )


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
