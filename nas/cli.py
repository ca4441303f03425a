"""What the entry points share: argparse helpers that check every value at parse time.

Kept free of torch and Optuna imports, so an entry point that only needs a parser (the
dashboard) does not load the search stack. Library modules never import this one.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (no usage block) and exits with 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_size(text: str) -> int:
    """'50M' -> 50_000_000; K, M and G suffixes (any case), plain numbers too."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise ValueError(f"expected a size such as 1.5M, 300K or 2G, got {text!r}")
    return int(float(m.group(1)) * _SUFFIX[m.group(2).upper()])


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (no upper bound: None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


positive_int = int_in(1)
non_negative_int = int_in(0)
seed_arg = int_in(0, 2**32 - 1)  # numpy's and Optuna's samplers take seeds in this range
port_arg = int_in(1, 65535)


def size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "": 1.0}


def parse_latency(text: str) -> float:
    """'5ms' -> 5.0, '500us' -> 0.5, '0.01s' -> 10.0, plain numbers are milliseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|)\s*", text.lower())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"expected a positive time such as 5ms, 500us or 0.01s, got {text!r}")
    return float(m.group(1)) * _TIME_UNITS[m.group(2)]


def latency_arg(text: str) -> float:
    try:
        return parse_latency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def int_list_arg(text: str) -> tuple[int, ...]:
    """'64,96,128' -> (64, 96, 128)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas, e.g. 64,96,128, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}")
    return values


def float_list_arg(text: str) -> tuple[float, ...]:
    """'0.05,0.2' -> (0.05, 0.2); every value positive."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers separated by commas, e.g. 0.5,1.0, got {text!r}")
    return values


def fraction_arg(text: str) -> float:
    """A number from 0 to 1, e.g. an accuracy."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def share_arg(text: str) -> float:
    """A share, 0 or more, e.g. 0.25 for a quarter (1.5: half as much again)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, e.g. 0.25, got {text!r}")
    return value


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def host_arg(text: str) -> str:
    """An IP address or a host name (RFC 1123 labels), checked before a server tries to bind it."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if 0 < len(text) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in text.rstrip(".").split(".")):
        return text
    raise argparse.ArgumentTypeError(f"expected an IP address or a host name, got {text!r}")
