"""python -m nas.grpc_server --storage postgresql://...: Optuna's gRPC storage proxy in front of a
study database, for searches with many workers (each runs ``nas.search --storage grpc://HOST:PORT``).

The workers then hold no database connections of their own: the proxy holds one SQLAlchemy pool
(at most 15 connections: SQLAlchemy's default 5 + 10 overflow). Ctrl-C stops it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import optuna

from nas.cli import OneLineErrorParser, host_arg, port_arg
from nas.optuna_compat import quiet_experimental
from nas.paths import DEFAULT_STORAGE
from nas.storage import make_storage


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="python -m nas.grpc_server", description=__doc__)
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="SQLAlchemy URL of the study database")
    parser.add_argument("--host", type=host_arg, default="127.0.0.1", help="0.0.0.0 to serve other machines")
    parser.add_argument("--port", type=port_arg, default=13000)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.storage.startswith("grpc://"):
        parser.error("--storage must be a database URL (sqlite:///..., postgresql://...), not another proxy")
    try:
        storage = make_storage(args.storage)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"gRPC storage proxy for {args.storage} on {args.host}:{args.port}; workers: "
          f"python -m nas.search --storage grpc://{args.host}:{args.port} ...", flush=True)  # fmt: skip
    try:
        with quiet_experimental():
            optuna.storages.run_grpc_proxy_server(storage, host=args.host, port=args.port)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
