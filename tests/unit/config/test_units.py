"""Sizes and durations as operators write them."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import parse_duration, parse_size
from config.units import DURATION_UNITS, SIZE_UNITS

KB, MB, GB, TB = 1000, 1000**2, 1000**3, 1000**4
KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200GB", 200 * GB),
        ("512MiB", 512 * MIB),
        ("10 MB", 10 * MB),
        ("1.5GB", 1_500_000_000),
        ("1.001KB", 1001),
        ("0.5KiB", 512),
        ("0.3GiB", 322_122_547),
        ("1B", 1),
        ("0", 0),
        ("4096", 4096),
        (4096, 4096),
        (0, 0),
        ("2tb", 2 * TB),
        ("2Tib", 2 * TIB),
        ("3gib", 3 * GIB),
        ("7 kb", 7 * KB),
        ("  64 MiB  ", 64 * MIB),
        ("1KiB", KIB),
    ],
)
def test_parse_size_accepts(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lots", "got 'lots'"),
        ("", "got ''"),
        ("GB", "got 'GB'"),
        ("-5GB", "got '-5GB'"),
        ("+5GB", "got '+5GB'"),
        ("10G", "unknown unit 'G'; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"),
        ("10 PB", "unknown unit 'PB'"),
        ("1e9", "got '1e9'"),
        ("1,000", "got '1,000'"),
        (".5GB", "got '.5GB'"),
        ("5.GB", "got '5.GB'"),
        ("5 G B", "got '5 G B'"),
        ("١٠GB", "got '١٠GB'"),
        (-1, "got -1"),
        (1.5, "got 1.5"),
        (True, "got True"),
        (None, "got None"),
    ],
)
def test_parse_size_rejects(text: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="^expected a size such as '200GB'") as caught:
        parse_size(text)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_parse_size_message_is_exact() -> None:
    with pytest.raises(ValueError) as caught:
        parse_size("lots")
    assert str(caught.value) == "expected a size such as '200GB', got 'lots'"


def test_parse_size_keeps_long_input_out_of_the_message() -> None:
    with pytest.raises(ValueError) as caught:
        parse_size("9" * 10_000 + "GB")
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("6h", 21600.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("0.25s", 0.25),
        ("30", 30.0),
        ("0", 0.0),
        ("10 s", 10.0),
        (30, 30.0),
        (0.5, 0.5),
        (0, 0.0),
    ],
)
def test_parse_duration_accepts(text: str | float, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("soon", "got 'soon'"),
        ("", "got ''"),
        ("-5s", "got '-5s'"),
        ("5M", "unknown unit 'M'; use ms, s, m, h or d"),
        ("30S", "unknown unit 'S'"),
        ("1w", "unknown unit 'w'"),
        ("1h30m", "got '1h30m'"),
        ("9" * 400 + "d", "got '999"),
        (-1, "got -1"),
        (float("inf"), "got inf"),
        (float("nan"), "got nan"),
        (True, "got True"),
        (None, "got None"),
    ],
)
def test_parse_duration_rejects(text: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="^expected a duration such as '30s'") as caught:
        parse_duration(text)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


unit_spellings = st.sampled_from(sorted(SIZE_UNITS)).flatmap(
    lambda unit: st.tuples(
        st.just(SIZE_UNITS[unit]),
        st.lists(st.booleans(), min_size=len(unit), max_size=len(unit)).map(
            lambda upper: "".join(c.upper() if u else c for c, u in zip(unit, upper, strict=True))
        ),
    )
)


@given(n=st.integers(min_value=0, max_value=10**30), unit=unit_spellings, space=st.booleans())
def test_parse_size_is_n_times_the_unit(n: int, unit: tuple[int, str], space: bool) -> None:
    factor, spelling = unit
    assert parse_size(f"{n}{' ' if space else ''}{spelling}") == n * factor


@given(n=st.integers(min_value=0, max_value=10**12), unit=st.sampled_from(sorted(DURATION_UNITS)))
def test_parse_duration_is_n_times_the_unit(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == float(n * DURATION_UNITS[unit])


@given(st.text(max_size=20) | st.integers() | st.floats())
def test_parse_size_returns_bytes_or_raises_value_error(text: str | int | float) -> None:
    try:
        result = parse_size(text)  # type: ignore[arg-type]
    except ValueError:
        return
    assert isinstance(result, int)
    assert result >= 0


@given(
    whole=st.integers(min_value=0, max_value=10**6),
    decimals=st.text(alphabet="0123456789", min_size=1, max_size=6),
    unit=st.sampled_from(sorted(SIZE_UNITS)),
)
def test_fractional_sizes_are_exact_and_round_down(whole: int, decimals: str, unit: str) -> None:
    exact = Fraction(f"{whole}.{decimals}") * SIZE_UNITS[unit]
    assert parse_size(f"{whole}.{decimals}{unit}") == int(exact)
