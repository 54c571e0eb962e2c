"""Cron schedules and retention durations are parsed, not pattern-matched."""

from datetime import timedelta

import pytest

from database_api.schedule import parse_duration, validate_cron


@pytest.mark.parametrize(
    "schedule",
    [
        "0 2 * * *",
        "*/15 * * * *",
        "0 0 1,15 * *",
        "30 4 * JAN-MAR mon-fri",
        "0 0 ? * SUN",
        "5-10/2 * * * 0",
        "@daily",
        "@hourly",
        "5/15 * * * *",  # robfig/cron: 5 to 59 every 15
        "0 0 29 2 *",  # runs in leap years
        "0 0 31 2 1",  # day of month OR weekday: runs every Monday in February
        "0 0 31 4,7 *",
        "*-5 * * * *",  # robfig/cron reads a star before a hyphen as a star
    ],
)
def test_accepts_what_the_cronjob_controller_accepts(schedule: str) -> None:
    assert validate_cron(schedule) == schedule


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("0 2 * *", "has 4 fields"),
        ("0 2 * * * *", "has 6 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * 7", "day of week: 7 is outside 0-6"),
        ("* * * FOO *", "month: 'FOO' is not a number"),
        ("10-5 * * * *", "range '10-5' runs backwards"),
        ("*/0 * * * *", "step '0' in '\\*/0' must be a positive number"),
        ("@sometimes", "unknown descriptor"),
        ("5/ * * * *", "minute: step '' in '5/' must be a positive number"),
        ("1/2/3 * * * *", "too many slashes"),
        ("1-2-3 * * * *", "too many hyphens"),
        ("0 0 31 2 *", "never runs: no chosen month has the chosen day of month"),
        ("0 0 30,31 2 *", "never runs"),
        ("0 0 31 4,6,9,11 ?", "never runs"),
    ],
)
def test_rejects_with_the_reason(schedule: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_cron(schedule)


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["7", "d", "0d", "-1d", "1.5d", "7days", "7D", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_a_retention_too_long_for_any_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="'1000000000d' is too long"):
        parse_duration("1000000000d")
