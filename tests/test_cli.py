"""nas.cli: argument types that check values at parse time."""

from __future__ import annotations

import argparse
import importlib

import pytest

from nas.cli import fraction_arg, host_arg, int_in, parse_size


def test_parse_size() -> None:
    assert parse_size("50M") == 50_000_000 and parse_size("1.5m") == 1_500_000
    assert parse_size("300K") == 300_000 and parse_size("2G") == 2 * 10**9 and parse_size("1234") == 1234
    with pytest.raises(ValueError, match="expected a size"):
        parse_size("lots")


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [("nas.dashboard", ["--port", "99999"], "--port: must be from 1 to 65535"),
     ("nas.dashboard", ["--host", "not a host!"], "--host: expected an IP address or a host name"),
     ("nas.search", ["--seed", "-1"], "--seed: must be from 0 to"), ("nas.search", ["--eta", "1"], "--eta: must be"),
     ("nas.search", ["--refine", "-2"], "--refine: must be at least 0"), ("nas.search", ["--budget", "0"], "--budget"),
     ("nas.search", ["--max-flops", "-5"], "--max-flops"), ("nas.search", ["--resolutions", "8,x"], "--resolutions"),
     ("nas.export", ["--trial", "-1"], "--trial: must be at least 0"),
     ("nas.export", ["--pick", "knee", "--min-accuracy", "1.5"], "--min-accuracy: expected a number from 0 to 1"),
     ("nas.export", ["--trial", "0", "--train-epochs", "-3"], "--train-epochs: must be at least 0"),
     ("nas.retrain", ["--seeds", "0"], "--seeds: must be at least 1"), ("nas.retrain", ["--lrs", "0,-1"], "--lrs"),
     ("nas.retrain", ["--storage", "grpc://host:13000"], "not a grpc:// proxy")],
)  # fmt: skip
def test_every_command_checks_its_numbers_at_parse_time(module: str, args: list[str], message: str, capsys) -> None:
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_argument_types() -> None:
    assert int_in(2, 4)("3") == 3 and fraction_arg("0.25") == 0.25 and host_arg("::1") == "::1"
    assert host_arg("gpu-node-3.cluster.local") == "gpu-node-3.cluster.local"
    for parse, bad in ((int_in(2, 4), "5"), (int_in(2), "x"), (fraction_arg, "nan"), (host_arg, "-bad-.org")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)
