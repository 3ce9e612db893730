from __future__ import annotations

import pytest

from local_broker.durations import MONTH_SECONDS, YEAR_SECONDS, DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT0.2S", 0.2),
        ("PT0,2S", 0.2),
        ("PT1S", 1.0),
        ("PT0S", 0.0),
        ("P0D", 0.0),
        ("PT1M", 60.0),
        ("PT1H", 3600.0),
        ("PT1.5H", 5400.0),
        ("PT1M30S", 90.0),
        ("PT1M30.5S", 90.5),
        ("PT2H3M4S", 7384.0),
        ("P1D", 86400.0),
        ("P1DT2H", 93600.0),
        ("P1W", 604800.0),
        ("P1W1D", 691200.0),
        ("P0.5D", 43200.0),
        ("P1M", MONTH_SECONDS),
        ("P1Y", YEAR_SECONDS),
        ("P1Y2M3DT4H5M6S", YEAR_SECONDS + 2 * MONTH_SECONDS + 3 * 86400 + 4 * 3600 + 5 * 60 + 6),
        ("PT36H", 129600.0),
        ("PT0.001S", 0.001),
    ],
)
def test_parses_iso_8601_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an ISO 8601 duration"),
        ("P", "no components"),
        ("PT", "a T but no hours"),
        ("P1DT", "a T but no hours"),
        ("-PT1S", "negative"),
        ("pt1s", "upper case: 'PT1S'"),
        ("Pt1S", "upper case"),
        ("0.2s", "write 'PT0.2S'"),
        ("5", "write 'PT5S'"),
        ("5 seconds", "write 'PT5S'"),
        ("200ms", "write 'PT0.2S'"),
        (" PT1S", "surrounding spaces"),
        ("PT1S ", "surrounding spaces"),
        ("P1H", "go after a T: 'PT1H'"),
        ("P5S", "go after a T: 'PT5S'"),
        ("PT1D", "not an ISO 8601 duration"),
        ("PT1.5H30M", "only the last component may have a fraction"),
        ("P1.5DT2H", "only the last component may have a fraction"),
        ("PT.5S", "not an ISO 8601 duration"),
        ("PT5.S", "not an ISO 8601 duration"),
        ("P1M2Y", "not an ISO 8601 duration"),
        ("PT1S1M", "not an ISO 8601 duration"),
        ("1h", "not an ISO 8601 duration"),
        ("P1S1", "not an ISO 8601 duration"),
        ("PT１S", "not an ISO 8601 duration"),
    ],
)
def test_refuses_other_text_and_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert message in str(caught.value)


def test_duration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration("soon")
