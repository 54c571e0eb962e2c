"""Cron schedules and retention durations, parsed for real.

The cron grammar is the one the Kubernetes CronJob controller accepts (robfig/cron's standard parser):
five fields, `*`, `?`, lists, ranges, steps, month and weekday names, and the `@hourly`-style descriptors.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

# The shape of a schedule, for the CRD schema; the API server cannot run the full parser below.
CRON_SHAPE_PATTERN = r"^(@[a-z]+|([0-9A-Za-z*?,/-]+\s+){4}[0-9A-Za-z*?,/-]+)$"
_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, {name: index + 1 for index, name in enumerate(_MONTHS)}),
    _Field("day of week", 0, 6, {name: index for index, name in enumerate(_WEEKDAYS)}),
)


def _value(text: str, field: _Field) -> int:
    if text.upper() in field.names:
        return field.names[text.upper()]
    if not text.isdigit():
        raise ValueError(f"{field.name}: {text!r} is not a number")
    number = int(text)
    if not field.low <= number <= field.high:
        raise ValueError(f"{field.name}: {number} is outside {field.low}-{field.high}")
    return number


def _check_part(part: str, field: _Field) -> None:
    span, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"{field.name}: step {step!r} must be a positive number")
    if span in ("*", "?"):
        return
    low_text, dash, high_text = span.partition("-")
    low = _value(low_text, field)
    if dash and low > _value(high_text, field):
        raise ValueError(f"{field.name}: range {span!r} runs backwards")


def validate_cron(schedule: str) -> str:
    """Return the schedule if the CronJob controller would accept it; raise ValueError saying why not."""
    text = schedule.strip()
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ValueError(f"unknown descriptor {text!r} (use one of {', '.join(sorted(_DESCRIPTORS))})")
        return text
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"{schedule!r} has {len(parts)} fields; a cron schedule has 5 (minute hour day month weekday)")
    for part, field in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            _check_part(item, field)
    return text


_DURATION = re.compile(r"^([1-9][0-9]*)([mhdw])$")
DURATION_PATTERN = _DURATION.pattern
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str) -> timedelta:
    """Parse a retention like `7d`, `12h`, `90m` or `2w` into a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a whole number and a unit m, h, d or w (e.g. 7d)")
    return int(match.group(1)) * _UNITS[match.group(2)]
