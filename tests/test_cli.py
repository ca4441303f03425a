"""nas.cli: argument types that check values at parse time."""

from __future__ import annotations

import pytest

from nas.cli import parse_size


def test_parse_size() -> None:
    assert parse_size("50M") == 50_000_000 and parse_size("1.5m") == 1_500_000
    assert parse_size("300K") == 300_000 and parse_size("2G") == 2 * 10**9 and parse_size("1234") == 1234
    with pytest.raises(ValueError, match="expected a size"):
        parse_size("lots")
