from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from local_broker.cron import CronError, CronSchedule

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # its clocks move by 30 minutes


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def firings(schedule: CronSchedule, start: datetime, count: int) -> list[str]:
    """The next `count` firings, each as its ISO form (with the local offset)."""
    moments = []
    moment = start
    for _ in range(count):
        moment = schedule.next_after(moment)
        moments.append(moment.isoformat())
    return moments


@pytest.mark.parametrize(
    ("text", "field", "values"),
    [
        ("* * * * *", "minutes", tuple(range(60))),
        ("? ? ? ? ?", "hours", tuple(range(24))),
        ("5 * * * *", "minutes", (5,)),
        ("1,2,3 * * * *", "minutes", (1, 2, 3)),
        ("3,1,2,1 * * * *", "minutes", (1, 2, 3)),
        ("10-15 * * * *", "minutes", (10, 11, 12, 13, 14, 15)),
        ("*/15 * * * *", "minutes", (0, 15, 30, 45)),
        ("10-30/10 * * * *", "minutes", (10, 20, 30)),
        ("50/5 * * * *", "minutes", (50, 55)),
        ("0-4/2,50 * * * *", "minutes", (0, 2, 4, 50)),
        ("* 0-23/6 * * *", "hours", (0, 6, 12, 18)),
        ("* * 1,15,31 * *", "days_of_month", (1, 15, 31)),
        ("* * * JAN,jul,Dec *", "months", (1, 7, 12)),
        ("* * * mar-may *", "months", (3, 4, 5)),
        ("* * * */3 *", "months", (1, 4, 7, 10)),
        ("* * * * MON-FRI", "days_of_week", (1, 2, 3, 4, 5)),
        ("* * * * sun,sat", "days_of_week", (0, 6)),
        ("* * * * 0", "days_of_week", (0,)),
        ("* * * * 1/2", "days_of_week", (1, 3, 5)),
    ],
)
def test_parses_fields(text: str, field: str, values: tuple[int, ...]) -> None:
    assert getattr(CronSchedule.parse(text), field) == values


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_macros_are_their_five_field_forms(text: str, expanded: str) -> None:
    macro, fields = CronSchedule.parse(text), CronSchedule.parse(expanded)
    assert (macro.minutes, macro.hours, macro.days_of_month, macro.months) == (
        fields.minutes,
        fields.hours,
        fields.days_of_month,
        fields.months,
    )
    assert (macro.days_of_week, macro.either_day) == (fields.days_of_week, fields.either_day)
    assert macro.text == text


@pytest.mark.parametrize(
    ("text", "either_day"),
    [
        ("0 0 * * *", False),
        ("0 0 13 * *", False),
        ("0 0 * * FRI", False),
        ("0 0 ? * FRI", False),
        ("0 0 */1 * FRI", False),
        ("0 0 13 * FRI", True),
        ("0 0 */2 * FRI", True),
        ("0 0 13 * 0-6", True),
    ],
)
def test_day_fields_or_only_when_both_restricted(text: str, either_day: bool) -> None:
    assert CronSchedule.parse(text).either_day is either_day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has 0 fields, not 5"),
        ("* * * *", "has 4 fields, not 5"),
        ("0 * * * * *", "a seconds field is not supported"),
        ("60 * * * *", "minute '60' is outside 0-59"),
        ("* 24 * * *", "hour '24' is outside 0-23"),
        ("* * 0 * *", "day-of-month '0' is outside 1-31"),
        ("* * 32 * *", "day-of-month '32' is outside 1-31"),
        ("* * * 13 *", "month '13' is outside 1-12"),
        ("* * * * 7", "use 0 or SUN for Sunday"),
        ("* * * * 8", "day-of-week '8' is outside 0-6"),
        ("5-1 * * * *", "the range starts after it ends"),
        ("*/0 * * * *", "the step must be 1 or more"),
        ("*/x * * * *", "step 'x' is not a number"),
        ("a * * * *", "value 'a' is not a number"),
        ("1,,2 * * * *", "value '' is not a number"),
        ("-1 * * * *", "value '' is not a number"),
        ("* * * JANUARY *", "value 'JANUARY' is not a number"),
        ("MON * * * *", "value 'MON' is not a number"),
        ("* * * * MON-JAN", "value 'JAN' is not a number"),
        ("+5 * * * *", "value '+5' is not a number"),
        ("@every 5m", "does not support @every"),
        ("@sometimes", "unknown macro"),
        ("@DAILY", "unknown macro"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("CRON_TZ=Mars/Olympus 0 0 * * *", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_refuses_invalid_schedules(text: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        CronSchedule.parse(text)
    assert message in str(caught.value)


def test_a_day_that_exists_only_in_leap_years_is_fine() -> None:
    schedule = CronSchedule.parse("0 0 29 2 *")
    assert firings(schedule, utc("2025-01-01T00:00"), 2) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]


def test_zone_from_prefix_or_argument() -> None:
    assert CronSchedule.parse("CRON_TZ=Europe/Berlin 0 9 * * *").timezone == "Europe/Berlin"
    assert CronSchedule.parse("TZ=Europe/Berlin 0 9 * * *").timezone == "Europe/Berlin"
    assert CronSchedule.parse("0 9 * * *", timezone="Europe/Berlin").timezone == "Europe/Berlin"
    assert CronSchedule.parse("0 9 * * *").timezone is None
    same = "CRON_TZ=Europe/Berlin 0 9 * * *"
    assert CronSchedule.parse(same, timezone="Europe/Berlin").timezone == "Europe/Berlin"
    with pytest.raises(CronError, match="also given"):
        CronSchedule.parse("CRON_TZ=Europe/Berlin 0 9 * * *", timezone="Asia/Tokyo")
    with pytest.raises(CronError, match="unknown time zone"):
        CronSchedule.parse("0 9 * * *", timezone="Nowhere/Special")


def test_schedules_compare_by_content() -> None:
    assert CronSchedule.parse("*/5 * * * *") == CronSchedule.parse("*/5 * * * *")
    assert hash(CronSchedule.parse("@daily")) == hash(CronSchedule.parse("@daily"))


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        ("* * * * *", "2024-05-01 10:00", ["05-01 10:01", "05-01 10:02", "05-01 10:03"]),
        ("* * * * *", "2024-05-01 10:00:30", ["05-01 10:01", "05-01 10:02"]),
        ("* * * * *", "2024-05-01 10:00:59.999999", ["05-01 10:01"]),
        ("* * * * *", "2024-05-01 23:59", ["05-02 00:00"]),
        ("*/15 * * * *", "2024-05-01 10:07", ["05-01 10:15", "05-01 10:30", "05-01 10:45"]),
        ("*/15 * * * *", "2024-05-01 10:45", ["05-01 11:00"]),
        ("0 * * * *", "2024-05-01 10:00", ["05-01 11:00", "05-01 12:00"]),
        ("30 2 * * *", "2024-05-01 03:00", ["05-02 02:30", "05-03 02:30"]),
        ("0 0 1 * *", "2024-01-31 12:00", ["02-01 00:00", "03-01 00:00", "04-01 00:00"]),
        ("0 0 31 * *", "2024-01-31 12:00", ["03-31 00:00", "05-31 00:00", "07-31 00:00"]),
        ("0 0 29 2 *", "2024-01-01 00:00", ["02-29 00:00"]),
        ("0 12 * * MON-FRI", "2024-05-03 13:00", ["05-06 12:00", "05-07 12:00"]),
        ("0 12 * * SAT,SUN", "2024-05-01 00:00", ["05-04 12:00", "05-05 12:00", "05-11 12:00"]),
        # cron's OR rule: the 13th, and every Friday
        ("0 9 13 * FRI", "2024-09-01 00:00", ["09-06 09:00", "09-13 09:00", "09-20 09:00"]),
        ("0 9 13 * FRI", "2024-09-20 10:00", ["09-27 09:00", "10-04 09:00", "10-11 09:00"]),
        ("0 9 13 * FRI", "2024-10-11 10:00", ["10-13 09:00", "10-18 09:00"]),
        # `*` in day of month: Fridays only; `*` in day of week: the 13th only
        ("0 9 * * FRI", "2024-09-01 00:00", ["09-06 09:00", "09-13 09:00", "09-20 09:00"]),
        ("0 9 13 * *", "2024-09-01 00:00", ["09-13 09:00", "10-13 09:00"]),
        ("0 0 1 1 *", "2024-06-01 00:00", ["01-01 00:00"]),
        ("59 23 31 12 *", "2024-12-31 23:59", ["12-31 23:59"]),
        ("0 0 * * 0", "2024-05-01 00:00", ["05-05 00:00", "05-12 00:00"]),
        ("5 4 * * sun", "2024-05-01 00:00", ["05-05 04:05"]),
        ("0 0 * 2 MON", "2024-03-01 00:00", ["02-03 00:00"]),
        ("@hourly", "2024-05-01 10:59:59", ["05-01 11:00"]),
    ],
)
def test_next_after_in_utc(text: str, start: str, expected: list[str]) -> None:
    begin = utc(start)
    moments = firings(CronSchedule.parse(text), begin, len(expected))
    assert [datetime.fromisoformat(moment).strftime("%m-%d %H:%M") for moment in moments] == (
        expected
    )
    # Each firing is after the start; the year wraps where the date went backwards.
    assert all(datetime.fromisoformat(moment) > begin for moment in moments)


@pytest.mark.parametrize(
    ("text", "zone", "start", "expected"),
    [
        # New York springs forward at 02:00 EST -> 03:00 EDT on 2024-03-10.
        (
            "30 2 * * *",
            NEW_YORK,
            "2024-03-09T12:00-05:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
        ),
        (
            "*/20 * * * *",
            NEW_YORK,
            "2024-03-10T01:10-05:00",
            ["2024-03-10T01:20:00-05:00", "2024-03-10T01:40:00-05:00", "2024-03-10T03:00:00-04:00"],
        ),
        (
            "* 2 * * *",
            NEW_YORK,
            "2024-03-10T01:58-05:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"],
        ),
        (
            "0 3 * * *",
            NEW_YORK,
            "2024-03-10T01:00-05:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T03:00:00-04:00"],
        ),
        # New York falls back at 02:00 EDT -> 01:00 EST on 2024-11-03.
        (
            "30 1 * * *",
            NEW_YORK,
            "2024-11-02T12:00-04:00",
            ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
        ),
        (
            "*/20 * * * *",
            NEW_YORK,
            "2024-11-03T00:50-04:00",
            [
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:20:00-04:00",
                "2024-11-03T01:40:00-04:00",
                "2024-11-03T01:00:00-05:00",
                "2024-11-03T01:20:00-05:00",
                "2024-11-03T01:40:00-05:00",
                "2024-11-03T02:00:00-05:00",
            ],
        ),
        (
            "*/20 1 * * *",
            NEW_YORK,
            "2024-11-03T00:50-04:00",
            [
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:20:00-04:00",
                "2024-11-03T01:40:00-04:00",
                "2024-11-04T01:00:00-05:00",
            ],
        ),
        (
            "0 * * * *",
            BERLIN,
            "2024-10-27T01:30+02:00",
            [
                "2024-10-27T02:00:00+02:00",
                "2024-10-27T02:00:00+01:00",
                "2024-10-27T03:00:00+01:00",
            ],
        ),
        (
            "0 2 * * *",
            BERLIN,
            "2024-03-30T12:00+01:00",
            ["2024-03-31T03:00:00+02:00", "2024-04-01T02:00:00+02:00"],
        ),
        # Lord Howe Island moves its clocks by half an hour (02:00 -> 02:30 on 2024-10-06).
        (
            "15 2 * * *",
            LORD_HOWE,
            "2024-10-05T12:00+10:30",
            ["2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"],
        ),
        (
            "*/15 * * * *",
            LORD_HOWE,
            "2024-10-06T01:50+10:30",
            ["2024-10-06T02:30:00+11:00", "2024-10-06T02:45:00+11:00"],
        ),
    ],
)
def test_next_after_across_daylight_saving_changes(
    text: str, zone: ZoneInfo, start: str, expected: list[str]
) -> None:
    schedule = CronSchedule.parse(text)
    begin = datetime.fromisoformat(start).astimezone(zone)
    assert firings(schedule, begin, len(expected)) == expected


def test_firings_strictly_increase_in_real_time_through_a_year_of_dst() -> None:
    for text in ("*/30 * * * *", "30 1,2 * * *", "0 2 * * SUN"):
        schedule = CronSchedule.parse(text)
        moment = datetime(2024, 1, 1, tzinfo=NEW_YORK)
        for _ in range(800):
            following = schedule.next_after(moment)
            assert following.astimezone(UTC) > moment.astimezone(UTC)
            moment = following


def test_moment_in_the_second_pass_of_a_repeated_hour() -> None:
    schedule = CronSchedule.parse("*/20 * * * *")
    second_pass = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK, fold=1)
    assert schedule.next_after(second_pass).isoformat() == "2024-11-03T01:40:00-05:00"


def test_schedule_zone_wins_over_the_moment_zone() -> None:
    schedule = CronSchedule.parse("0 9 * * *", timezone="Europe/Berlin")
    following = schedule.next_after(utc("2024-07-01T12:00"))
    assert following.isoformat() == "2024-07-02T09:00:00+02:00"
    assert following.astimezone(UTC) == utc("2024-07-02T07:00")


def test_moment_zone_is_used_when_the_schedule_has_none() -> None:
    schedule = CronSchedule.parse("0 9 * * *")
    tokyo = datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert schedule.next_after(tokyo).isoformat() == "2024-07-02T09:00:00+09:00"
    fixed = datetime(2024, 7, 1, 8, 0, tzinfo=timezone(timedelta(hours=-3)))
    assert schedule.next_after(fixed).isoformat() == "2024-07-01T09:00:00-03:00"


def test_next_after_needs_an_aware_moment() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CronSchedule.parse("* * * * *").next_after(datetime(2024, 1, 1))
