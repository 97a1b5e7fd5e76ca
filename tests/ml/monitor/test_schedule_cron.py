"""The cron grammar of `mlops:monitoring.schedule` (`contract.cron`): what it accepts, what it refuses and how it
says so, and the next tick it computes, which the scheduler container sleeps to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contract import cron


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 * * * *", "2026-12-03T07:59:30", "2026-12-03T08:00:00"),
        ("0 * * * *", "2026-12-03T08:00:00", "2026-12-03T09:00:00"),
        ("* * * * *", "2026-12-03T08:00:59", "2026-12-03T08:01:00"),
        ("*/15 * * * *", "2026-12-03T08:16:00", "2026-12-03T08:30:00"),
        ("15 */2 * * *", "2026-12-03T08:15:00", "2026-12-03T10:15:00"),
        ("0 */6 * * *", "2026-12-31T19:00:00", "2027-01-01T00:00:00"),
        ("30 9-17/4 * * mon-fri", "2026-12-04T17:31:00", "2026-12-07T09:30:00"),  # Friday evening -> Monday
        ("0 0 29 feb *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("0 0 1,15 * *", "2026-12-02T00:00:00", "2026-12-15T00:00:00"),
        ("0 12 * * 7", "2026-12-03T00:00:00", "2026-12-06T12:00:00"),  # 7 is Sunday
        ("0 12 * * SUN", "2026-12-03T00:00:00", "2026-12-06T12:00:00"),
        ("0 0 1 JAN-MAR/2 *", "2026-01-01T00:00:00", "2026-03-01T00:00:00"),
        # Both day fields restricted: either one matches (the 13th, or any Friday), as in every cron.
        ("0 0 13 * 5", "2026-12-03T00:00:00", "2026-12-04T00:00:00"),
        ("0 0 13 * 5", "2026-12-11T00:00:00", "2026-12-13T00:00:00"),
        # A day field starting with '*' does not widen the other: only odd days that are Mondays.
        ("0 0 */2 * mon", "2026-12-01T00:00:00", "2026-12-07T00:00:00"),
    ],
)
def test_next_tick(expression: str, after: str, expected: str) -> None:
    assert cron.parse(expression).next_after(at(after)) == at(expected)


def test_next_tick_keeps_the_time_zone_and_drops_seconds() -> None:
    tick = cron.parse("*/5 * * * *").next_after(at("2026-12-03T08:04:59.900"))
    assert tick == at("2026-12-03T08:05:00") and tick.tzinfo is UTC


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12 or jan-dec"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7 or sun-sat"),
        ("0 0 * * funday", "day-of-week field: 'funday' is not a number (0-7 or sun-sat)"),
        ("* * *", "has 3 field(s), not 5 (minute hour day-of-month month day-of-week)"),
        ("0 * * * * *", "has 6 field(s), not 5"),
        ("", "has 0 field(s), not 5"),
        ("@hourly", "is a macro, which GitHub Actions does not accept"),
        ("*/0 * * * *", "minute field: step '0' in '*/0' is not a whole number of 1 or more"),
        ("5/10 * * * *", "minute field: a step needs '*' or a range before it"),
        ("30-10 * * * *", "minute field: range '30-10' runs backwards (0-59)"),
        ("1,,2 * * * *", "minute field: '1,,2' has an empty item in its list"),
        ("0 0 L * *", "day-of-month field: 'L' is not a number (1-31)"),
        ("0 0 ? * *", "day-of-month field: '?' is not a number"),
        ("0 0 31 2 *", "never fires: no chosen month has the chosen day of month"),
        ("0 0 30,31 feb *", "never fires"),
    ],
)
def test_a_bad_expression_names_the_field_and_its_range(expression: str, message: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse(expression)
    assert message in str(caught.value)


def test_help_gives_a_valid_example() -> None:
    assert cron.parse(cron.EXAMPLE).minutes == frozenset({0})
    assert f"'{cron.EXAMPLE}'" in cron.HELP and "5-field" in cron.HELP


def test_matches_agrees_with_next_tick() -> None:
    expression = cron.parse("*/20 8-9 * * *")
    ticks = [at("2026-12-03T07:00:00")]
    for _ in range(7):
        ticks.append(expression.next_after(ticks[-1]))
    assert [t.strftime("%d %H:%M") for t in ticks[1:]] == [
        "03 08:00",
        "03 08:20",
        "03 08:40",
        "03 09:00",
        "03 09:20",
        "03 09:40",
        "04 08:00",
    ]
    assert all(expression.matches(t) for t in ticks[1:])
    assert not expression.matches(at("2026-12-03T08:10:00"))
