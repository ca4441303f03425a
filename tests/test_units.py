"""nas.units: numbers as people read them."""

from nas.units import human


def test_human_uses_three_significant_digits_and_a_unit() -> None:
    assert [human(n) for n in (999, 1000, 1234567, 2.5e9, -4500, 0.5)] == ["999", "1K", "1.23M", "2.5G", "-4.5K", "0.5"]
