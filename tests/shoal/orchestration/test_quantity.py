from __future__ import annotations

import pytest

from shoal.orchestration.quantity import QuantityError, parse_cpu, parse_memory


@pytest.mark.parametrize(
    ("written", "millicores"),
    [
        ("100m", 100),
        ("0.5", 500),
        ("2", 2000),
        ("1", 1000),
        ("0.1", 100),  # exact: never 99m from float rounding
        ("0.001", 1),
        ("1.5", 1500),
        ("250m", 250),
        ("0m", 0),
        ("0", 0),
        (".5", 500),
        ("2.", 2000),
        (" 100m ", 100),
        ("16", 16000),
        (2, 2000),
        (0.25, 250),
        (1.0, 1000),
    ],
)
def test_cpu_in_millicores(written: object, millicores: int) -> None:
    assert parse_cpu(written) == millicores


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("100x", "unknown CPU unit 'x'"),
        ("0.0005", 'finer than 1 millicore; round it to whole millicores, e.g. "1m"'),
        ("1.5m", 'e.g. "2m"'),
        ("-1", "is negative"),
        ("abc", "is not a quantity"),
        ("", "is not a quantity"),
        ("1e3", "is not a quantity"),
        (True, "is not a quantity"),
        (None, "is not a quantity"),
        ([1], "is not a quantity"),
        ("100 m", "is not a quantity"),
    ],
)
def test_bad_cpu_says_what_to_write(written: object, fragment: str) -> None:
    with pytest.raises(QuantityError) as caught:
        parse_cpu(written)
    assert fragment in str(caught.value)
    assert "millicores" in str(caught.value)  # every message shows how to write it


@pytest.mark.parametrize(
    ("written", "mib"),
    [
        ("64Mi", 64),
        ("1Gi", 1024),
        ("1.5Gi", 1536),
        ("0.5Gi", 512),
        ("500M", 477),  # 500,000,000 bytes is 476.84 MiB, rounded up
        ("1G", 954),
        ("1000M", 954),
        ("1Ki", 1),  # any nonzero amount reserves at least 1 MiB
        ("1024Ki", 1),
        ("1025Ki", 2),
        ("1k", 1),
        ("1048576", 1),  # plain numbers are bytes, as in Kubernetes
        ("1048577", 2),
        ("1Ti", 1024 * 1024),
        ("1T", 953_675),
        ("2Pi", 2 * 1024**3),
        ("1E", 953_674_316_407),
        ("1Ei", 1024**4),
        ("0", 0),
        ("0Mi", 0),
        (134217728, 128),
    ],
)
def test_memory_in_mib_rounded_up(written: object, mib: int) -> None:
    assert parse_memory(written) == mib


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("64mb", 'did you mean "Mi"?'),
        ("64MB", 'did you mean "Mi"?'),
        ("64MiB", 'did you mean "Mi"?'),
        ("64m", 'did you mean "Mi"?'),
        ("1gi", 'did you mean "Gi"?'),
        ("1GB", 'did you mean "Gi"?'),
        ("1K", 'did you mean "Ki"?'),
        ("1x", 'write bytes with a suffix like "64Mi"'),
        ("-1Gi", "is negative"),
        ("Mi", "is not a quantity"),
        (False, "is not a quantity"),
    ],
)
def test_bad_memory_says_what_to_write(written: object, fragment: str) -> None:
    with pytest.raises(QuantityError) as caught:
        parse_memory(written)
    assert fragment in str(caught.value)
