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
    return int(text)


def _values(part: str, field: _Field) -> tuple[set[int], bool]:
    """The values one comma-separated part of a field selects, and whether it is a star (`*` or `?` without a
    step above 1), exactly as robfig/cron's getRange reads it: `N/step` means N to the field's maximum."""
    span_and_step = part.split("/")
    if len(span_and_step) > 2:
        raise ValueError(f"{field.name}: {part!r} has too many slashes")
    bounds = span_and_step[0].split("-")
    star = bounds[0] in ("*", "?")
    if star:
        low, high = field.low, field.high
    elif len(bounds) == 1:
        low = high = _value(bounds[0], field)
    elif len(bounds) == 2:
        low, high = _value(bounds[0], field), _value(bounds[1], field)
    else:
        raise ValueError(f"{field.name}: {part!r} has too many hyphens")
    step = 1
    if len(span_and_step) == 2:
        if not span_and_step[1].isdigit():
            raise ValueError(f"{field.name}: step {span_and_step[1]!r} in {part!r} must be a positive number")
        step = int(span_and_step[1])
        if len(bounds) == 1 and not star:
            high = field.high
        star = star and step <= 1
    for bound in (low, high):
        if not field.low <= bound <= field.high:
            raise ValueError(f"{field.name}: {bound} is outside {field.low}-{field.high}")
    if low > high:
        raise ValueError(f"{field.name}: range {span_and_step[0]!r} runs backwards")
    if step == 0:
        raise ValueError(f"{field.name}: step {span_and_step[1]!r} in {part!r} must be a positive number")
    return set(range(low, high + 1, step)), star


_LONGEST_MONTH = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}


def validate_cron(schedule: str) -> str:
    """Return the schedule if the CronJob controller would accept it and it can ever run; raise ValueError
    saying why not."""
    text = schedule.strip()
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ValueError(f"unknown descriptor {text!r} (use one of {', '.join(sorted(_DESCRIPTORS))})")
        return text
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"{schedule!r} has {len(parts)} fields; a cron schedule has 5 (minute hour day month weekday)")
    selected: list[tuple[set[int], bool]] = []
    for part, field in zip(parts, _FIELDS, strict=True):
        values: set[int] = set()
        star = False
        for item in part.split(","):
            item_values, item_star = _values(item, field)
            values |= item_values
            star = star or item_star
        selected.append((values, star))
    (days, any_day), (months, _), (_, any_weekday) = selected[2], selected[3], selected[4]
    # The controller runs a job on a day that matches the day of month AND the weekday when either is a star,
    # else on one matching either. With only the day of month restricted, it must exist in a chosen month.
    if (
        any_weekday
        and not any_day
        and not any(day <= _LONGEST_MONTH.get(month, 31) for day in days for month in months)
    ):
        raise ValueError(f"{schedule!r} never runs: no chosen month has the chosen day of month")
    return text


_DURATION = re.compile(r"^([1-9][0-9]*)([mhdw])$")
DURATION_PATTERN = _DURATION.pattern
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str) -> timedelta:
    """Parse a retention like `7d`, `12h`, `90m` or `2w` into a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a whole number and a unit m, h, d or w (e.g. 7d)")
    try:
        return int(match.group(1)) * _UNITS[match.group(2)]
    except OverflowError as error:
        raise ValueError(f"{text!r} is too long (at most {timedelta.max.days} days)") from error
