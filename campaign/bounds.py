"""What a template may build and write: sizes checked before the work, and text only.

Every value a template builds stays under `MAX_TEXT` characters as written out, and every number
under `MAX_DIGITS` digits. Operators and the filters and str methods that pad, repeat or join
are checked *before* they run (`"x" * 10**9` would take the memory before any check after it);
results and literals are measured after, counting every repeat of a shared part. Only text,
numbers and dates may be written into a post: a function or an object would be written as its
memory address, different in every run. `campaign.sandbox` calls these checks.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Sized
from datetime import date, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

import jinja2

MAX_TEXT = 100_000  # longer than any platform's post (Facebook: 63,206)
MAX_DIGITS = 1_000
MAX_INDENT = 16
T = TypeVar("T")
MAX_BITS = int(MAX_DIGITS * math.log2(10))  # a number of MAX_DIGITS digits
_WRITABLE = (str, int, float, Decimal, date, time, timedelta, tzinfo, range, type(None))
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")


class Refused(Exception):
    """Raised inside a render when a template goes past a bound; the message says what to do."""


def check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """What a filter would build, before it builds it. `args[0]` is the filtered value."""
    value = args[0] if args else None
    where = f"|{name}"
    writable(args[:1], where)
    if name == "center":
        _check_width(_argument(args, kwargs, 1, "width", 80), where)
    elif name == "indent":
        width = _argument(args, kwargs, 1, "width", 4)
        each = len(width) if isinstance(width, str) else _check_width(width, where)
        _check_total((str(value).count("\n") + 1) * each, where)
    elif name == "format":
        check_percent(str(value), args[1:] or kwargs)
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
        indent = _argument(args, kwargs, 1, "indent", None)
        if isinstance(indent, int) and indent > MAX_INDENT:
            raise Refused(f"|tojson with an indent of {indent:,}: at most {MAX_INDENT}")


def check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
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


def _check_width(width: Any, where: str) -> int:
    if isinstance(width, int) and width > MAX_TEXT:
        raise Refused(f"{where} with {width:,} would build more than {MAX_TEXT:,} characters")
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


def check_repeat(left: Any, right: Any) -> None:
    """`a * b`: text or lists repeated, or numbers multiplied, within bounds."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_BITS:
            raise Refused(f"'*' would make a number of more than {MAX_DIGITS:,} digits")
        return
    times, sequence = (left, right) if isinstance(left, int) else (right, left)
    if isinstance(times, int) and isinstance(sequence, str | bytes | list | tuple) and times > 0:
        each = len(sequence) if isinstance(sequence, str | bytes) else _size_of(sequence)
        _check_total(each * times, "'*'")


def check_power(base: Any, exponent: Any) -> None:
    """`a ** b`: a number within MAX_DIGITS digits, found without computing it."""
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) < 2:
        return  # a float result overflows at once (`too_large`) instead of growing
    if exponent * math.log2(abs(base)) > MAX_BITS:
        raise Refused(f"'**' would make a number of more than {MAX_DIGITS:,} digits")


def check_percent(template: str, arguments: Any) -> None:
    """`"%05d" % n` and `|format`: widths and precisions within bounds, values writable."""
    for width, precision in _PERCENT_SPEC.findall(template):
        for number in (width, precision):
            if number == "*":
                raise Refused("'%' with a width from the arguments ('*'): write the width")
            if number and int(number) > MAX_TEXT:
                raise Refused(f"'%' with a width of {int(number):,} would build too much text")
    writable(arguments, "'%'")


def check_braces(template: str) -> None:
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


def too_large(where: str) -> Refused:
    """The error for a fraction (float) past the largest one, about 1.8e308.

    Python raises OverflowError for some operations (`10.0 ** 400`, `10 ** 400 / 3`) and gives
    `inf` for others (`1e308 * 10`); a post must say neither.
    """
    return Refused(
        f"{where} would make a number too large to compute (beyond about 1.8e308): "
        "use smaller numbers"
    )


def bounded(result: T, where: str) -> T:
    """`result`, if it is within the bounds of a value."""
    if isinstance(result, str | bytes):
        if len(result) > MAX_TEXT:
            _check_total(len(result), where)
    elif isinstance(result, int):
        if result.bit_length() > MAX_BITS:
            raise Refused(f"{where} made a number of more than {MAX_DIGITS:,} digits")
    elif isinstance(result, list | tuple | dict):
        written_size(result, where)
    return result


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 1


def _size_of(value: Any) -> int:
    return written_size(value, "a value")


def written_size(value: Any, where: str, *, undefined: bool = False) -> int:
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


def as_text(value: Any, where: str) -> str:
    """`value` written as text, if it is something a post may contain."""
    writable((value,), where)
    if isinstance(value, list | tuple | dict | set | frozenset):
        written_size(value, where)
    return str(value)


def writable(values: Any, where: str) -> None:
    """Refuse functions, methods and objects whose text would be a memory address."""
    stack = [values]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise Refused(
                f"{where} writes {item}, which is no number a post can show: a number went "
                "beyond about 1.8e308, or was made from 'inf' or 'nan'; use smaller numbers"
            )
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
