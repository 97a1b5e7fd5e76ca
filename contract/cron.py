"""The cron grammar of `mlops:monitoring.schedule`, defined once for the three places that read it.

The Pulumi program validates a stack's schedule and hands it to a Kubernetes CronJob or the docker
scheduler container; the scheduler (`python -m ml.monitor --every CRON`) computes its next tick from it;
GitHub Actions runs `monitor.yml` on the same expression. So the grammar is what all three accept: five
fields (minute, hour, day of month, month, day of week), each `*`, a number, a range `a-b`, a step `*/n`
or `a-b/n`, or a comma-separated list of those; months and weekdays also by their English abbreviations
(`jan`, `mon`). Not accepted: `@hourly` and the other macros, `?`, `L`, `W` and `#`, which GitHub does not
know. As in Vixie cron, when both the day of month and the day of week are restricted, a day matching either
one is a match. Times are UTC (GitHub and a CronJob without `timeZone` both read them so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

EXAMPLE = "0 * * * *"
HELP = (
    "a 5-field cron expression 'minute hour day-of-month month day-of-week' in UTC, "
    f"e.g. '{EXAMPLE}' (hourly) or '*/15 * * * *' (every 15 minutes)"
)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()

    @property
    def range_text(self) -> str:
        text = f"{self.low}-{self.high}"
        return f"{text} or {self.names[0]}-{self.names[-1]}" if self.names else text


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    # 7 is Sunday too, as in every cron.
    _Field("day-of-week", 0, 7, _DAYS),
)


class CronError(ValueError):
    """An expression that is not a 5-field cron; the message names the field and its range."""


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field, and whether each day field was `*`."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday ... 6 = Saturday (a 7 in the expression is folded into 0)."""
    any_day: bool
    any_weekday: bool

    def matches(self, moment: datetime) -> bool:
        return moment.minute in self.minutes and moment.hour in self.hours and self._day_matches(moment)

    def _day_matches(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, moment: datetime) -> datetime:
        """The first minute strictly after `moment` that the expression matches (same tzinfo as `moment`)."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        # The calendar repeats every 28 years (within a century), so a day that matches comes within them.
        for _ in range(366 * 28):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise CronError(f"cron {self.expression!r} never matches a real date (e.g. 31 February)")


def _number(text: str, field: _Field) -> int:
    lowered = text.lower()
    if field.names and lowered in field.names:
        return field.names.index(lowered) + field.low
    if not text.isdigit():
        raise CronError(f"{field.name} field: {text!r} is not a number ({field.range_text})")
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(f"{field.name} field: {value} is out of range {field.range_text}")
    return value


def _part(text: str, field: _Field) -> set[int]:
    body, slash, step_text = text.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"{field.name} field: step {step_text!r} in {text!r} is not a whole number of 1 or more")
        step = int(step_text)
    if body == "*":
        low, high = field.low, field.high
    elif "-" in body:
        first, _, last = body.partition("-")
        low, high = _number(first, field), _number(last, field)
        if low > high:
            raise CronError(f"{field.name} field: range {body!r} runs backwards ({field.range_text})")
    elif slash:
        raise CronError(f"{field.name} field: a step needs '*' or a range before it, as in '*/{step}', not {text!r}")
    else:
        low = high = _number(body, field)
    return set(range(low, high + 1, step))


def _values(text: str, field: _Field) -> frozenset[int]:
    if not text:
        raise CronError(f"{field.name} field is empty")
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field.name} field: {text!r} has an empty item in its list")
        values |= _part(part, field)
    return frozenset(values)


def parse(expression: str) -> Cron:
    """Parse a 5-field cron expression; `CronError` names the field that is wrong and its range."""
    if not isinstance(expression, str):
        raise CronError(f"{expression!r} is not a string")
    text = expression.strip()
    if text.startswith("@"):
        raise CronError(f"{text!r} is a macro, which GitHub Actions does not accept; write the five fields")
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise CronError(f"{text!r} has {len(parts)} field(s), not 5 (minute hour day-of-month month day-of-week)")
    values = [_values(part, field) for part, field in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in values[4])
    cron = Cron(
        expression=text,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    _check_reachable(cron)
    return cron


# The longest each month can be (February in a leap year), to refuse a schedule that never fires.
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_reachable(cron: Cron) -> None:
    if not cron.any_weekday and not cron.any_day:
        return  # either day field may match, and every weekday occurs in every month
    if cron.any_day or any(day <= _MONTH_DAYS[month - 1] for day in cron.days for month in cron.months):
        return
    raise CronError(f"{cron.expression!r} never fires: no chosen month has the chosen day of month")
