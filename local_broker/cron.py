"""Cron schedules as a PingSource writes them, and the next moment a schedule fires.

Syntax is what Knative's PingSource accepts (its webhook parses `spec.schedule` with the robfig
"standard" cron parser): five fields, minute (0-59), hour (0-23), day of month (1-31), month
(1-12 or JAN-DEC) and day of week (0-6 or SUN-SAT, Sunday is 0); each a comma list of `*`, `?`
(same as `*`), `N`, `N-M`, any of them with `/STEP`, where `N/STEP` means `N-max/STEP`; names are
case-insensitive. Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
A `CRON_TZ=Zone ` (or `TZ=Zone `) prefix fixes the time zone. Knative refuses `@every`; 7 for
Sunday is refused too, because Knative's parser refuses it.

Day matching follows cron's OR rule: when both day of month and day of week are restricted, a
day matches if either does; when either field is `*` (or `?`), both must match, which leaves the
restricted one deciding. As in robfig's parser, `*/2` counts as restricted.

Daylight saving time (next_after): a schedule whose hour field is `*` follows real time, so it
keeps firing through a repeated hour and simply has no wall-clock times inside a skipped one.
Any other schedule follows wall-clock time and fires once per matching wall-clock minute: in a
repeated hour only the first occurrence fires, and a time skipped by a spring-forward gap fires at
the first instant after the gap (so a daily 02:30 job still runs on that day, at 03:00).
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAY_NAMES = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
_FIELD_ORDER = "minute hour day-of-month month day-of-week"
_LONGEST_MONTH = {month: calendar.monthrange(2024, month)[1] for month in range(1, 13)}
# Every valid schedule fires within 8 years (29 February); parse() refuses the others.
_SEARCH_YEARS = 30


class CronError(ValueError):
    """A schedule that is not valid cron syntax, or that never fires."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_MINUTE = _Field("minute", 0, 59, {})
_HOUR = _Field("hour", 0, 23, {})
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, {})
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DAY_OF_WEEK = _Field("day-of-week", 0, 6, _DAY_NAMES)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed schedule: the matching values of each field, as sorted tuples."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    # True when both day fields are restricted: then either may match (cron's OR rule).
    either_day: bool
    # The zone of a CRON_TZ= prefix or of parse(timezone=...); None: the moment's own zone.
    timezone: str | None = None

    @classmethod
    def parse(cls, text: str, *, timezone: str | None = None) -> CronSchedule:
        """Parse `text`; `timezone` (an IANA name) is the zone its wall-clock times are in."""
        spec = text.strip()
        if spec.startswith(("CRON_TZ=", "TZ=")):
            prefix, _, spec = spec.partition(" ")
            zone = prefix.partition("=")[2]
            if timezone is not None and timezone != zone:
                raise CronError(f"{text!r} sets time zone {zone} but {timezone} is also given")
            timezone = zone
            spec = spec.strip()
        if timezone is not None:
            check_timezone(timezone)
        expanded = _expand_macro(spec)
        fields = expanded.split()
        if len(fields) != 5:
            hint = " (a seconds field is not supported)" if len(fields) == 6 else ""
            raise CronError(f"{text!r} has {len(fields)} fields, not 5 ({_FIELD_ORDER}){hint}")
        minutes, _ = _parse_field(fields[0], _MINUTE)
        hours, _ = _parse_field(fields[1], _HOUR)
        days_of_month, any_day_of_month = _parse_field(fields[2], _DAY_OF_MONTH)
        months, _ = _parse_field(fields[3], _MONTH)
        days_of_week, any_day_of_week = _parse_field(fields[4], _DAY_OF_WEEK)
        either_day = not (any_day_of_month or any_day_of_week)
        if any_day_of_week and not any(
            day <= _LONGEST_MONTH[month] for month in months for day in days_of_month
        ):
            raise CronError(f"{text!r} never fires: no chosen month has the chosen days")
        return cls(text, minutes, hours, days_of_month, months, days_of_week, either_day, timezone)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (timezone-aware), in the schedule's zone
        (or the moment's, when the schedule has none). See the module docstring for DST."""
        if moment.utcoffset() is None:
            raise ValueError("next_after() needs a timezone-aware moment")
        zone = ZoneInfo(self.timezone) if self.timezone else moment.tzinfo
        assert zone is not None
        local = moment.astimezone(zone)
        wall = local.replace(tzinfo=None, second=0, microsecond=0)
        every_hour = len(self.hours) == 24
        repeat = _offset(local) - _offset(local.replace(fold=1))
        if every_hour and local.fold == 0 and repeat > timedelta(0):
            # In the first pass of a repeated hour, the second pass of earlier wall-clock
            # minutes is still ahead of us.
            wall -= repeat
        # Compare in UTC: aware datetimes sharing a tzinfo compare by wall time, ignoring fold.
        after = moment.astimezone(UTC)
        best: datetime | None = None
        while True:
            wall = self._next_wall_time(wall)
            instants = _instants(wall, zone, every_hour=every_hour)
            for instant in instants:
                if instant.astimezone(UTC) > after and (
                    best is None or instant.astimezone(UTC) < best.astimezone(UTC)
                ):
                    best = instant
            # Instants grow with wall-clock time except across a repeated hour, where the
            # second pass of a minute comes after the first pass of later minutes.
            if best is not None and len(instants) < 2:
                return best
            wall += timedelta(minutes=1)

    def _next_wall_time(self, start: datetime) -> datetime:
        """The first wall-clock minute at or after `start` (naive) that all fields match."""
        moment = start
        while moment.year <= start.year + _SEARCH_YEARS:
            if moment.month not in self.months:
                month = _next_value(self.months, moment.month)
                year = moment.year if month is not None else moment.year + 1
                moment = datetime(year, month or self.months[0], 1)
            elif not self._day_matches(moment):
                moment = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
            elif moment.hour not in self.hours:
                hour = _next_value(self.hours, moment.hour)
                if hour is None:
                    moment = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
                else:
                    moment = moment.replace(hour=hour, minute=0)
            elif moment.minute not in self.minutes:
                minute = _next_value(self.minutes, moment.minute)
                if minute is None:
                    moment = moment.replace(minute=0) + timedelta(hours=1)
                else:
                    moment = moment.replace(minute=minute)
            else:
                return moment
        raise AssertionError(f"{self.text!r} did not fire within {_SEARCH_YEARS} years")

    def _day_matches(self, day: datetime) -> bool:
        by_month_day = day.day in self.days_of_month
        by_week_day = (day.weekday() + 1) % 7 in self.days_of_week
        if self.either_day:
            return by_month_day or by_week_day
        return by_month_day and by_week_day


def check_timezone(name: str) -> None:
    """Raise CronError unless `name` is an IANA time zone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CronError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from error


def _expand_macro(spec: str) -> str:
    if not spec.startswith("@"):
        return spec
    if spec.startswith("@every"):
        raise CronError(f"{spec!r}: Knative's PingSource does not support @every")
    try:
        return _MACROS[spec]
    except KeyError:
        raise CronError(f"unknown macro {spec!r}; known: {', '.join(_MACROS)}") from None


def _parse_field(text: str, field: _Field) -> tuple[tuple[int, ...], bool]:
    """The values `text` selects, and whether it is unrestricted (`*` or `?` without a step)."""
    values: set[int] = set()
    unrestricted = False
    for part in text.split(","):
        range_text, slash, step_text = part.partition("/")
        step = _number(step_text, field, "step") if slash else 1
        if step < 1:
            raise CronError(f"{field.name} {part!r}: the step must be 1 or more")
        if range_text in ("*", "?"):
            low, high = field.low, field.high
            unrestricted = unrestricted or step == 1
        else:
            first, dash, last = range_text.partition("-")
            low = _value(first, field)
            # `N/STEP` runs from N to the field's maximum.
            high = _value(last, field) if dash else field.high if slash else low
            if low > high:
                raise CronError(f"{field.name} {part!r}: the range starts after it ends")
        values.update(range(low, high + 1, step))
    return tuple(sorted(values)), unrestricted


def _value(text: str, field: _Field) -> int:
    named = field.names.get(text.upper())
    value = named if named is not None else _number(text, field, "value")
    if not field.low <= value <= field.high:
        hint = " (use 0 or SUN for Sunday)" if field is _DAY_OF_WEEK and value == 7 else ""
        raise CronError(f"{field.name} {text!r} is outside {field.low}-{field.high}{hint}")
    return value


def _number(text: str, field: _Field, what: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"{field.name}: {what} {text!r} is not a number")
    return int(text)


def _next_value(values: tuple[int, ...], current: int) -> int | None:
    """The smallest of the sorted `values` above `current`, if any."""
    index = bisect_left(values, current + 1)
    return values[index] if index < len(values) else None


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # only called on aware datetimes
    return offset


def _instants(wall: datetime, zone: tzinfo, *, every_hour: bool) -> tuple[datetime, ...]:
    """The moments at which wall-clock time `wall` fires in `zone` (see the DST rules above)."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return (first,)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        # A repeated wall-clock time: fold=0 is its first occurrence.
        return (first, second) if every_hour else (first,)
    # A wall-clock time skipped by a gap.
    return () if every_hour else (_end_of_gap(wall, zone, first, second),)


def _end_of_gap(wall: datetime, zone: tzinfo, first: datetime, second: datetime) -> datetime:
    """The first instant whose wall-clock time is past `wall`, which lies inside a gap."""
    # Read with the offsets before and after the gap, `wall` maps to one instant before the
    # gap and one after it; the transition lies between. Transitions are on whole seconds.
    before, after = sorted((int(first.timestamp()), int(second.timestamp())))
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, zone)
