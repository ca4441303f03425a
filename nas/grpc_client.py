"""``grpc://HOST:PORT`` storage URLs: a search worker that talks to Optuna's gRPC storage proxy
(``python -m nas.grpc_server``) instead of holding its own database connections, so hundreds of
workers share the proxy's one connection pool (Optuna >= 4.2)."""

from __future__ import annotations

import re

import optuna

from nas.optuna_compat import quiet_experimental

SCHEME = "grpc://"
CONNECT_TIMEOUT_S = 30.0  # a proxy that is not up by then is reported, not waited for


def grpc_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a ``grpc://HOST:PORT`` URL; None for any other URL; ValueError if malformed."""
    if not url.startswith(SCHEME):
        return None
    m = re.fullmatch(r"grpc://(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})/?", url)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"malformed storage URL {url!r} (expected grpc://HOST:PORT, e.g. grpc://db-host:13000)")
    return m.group(1).strip("[]"), int(m.group(2))


def connect(url: str, timeout: float = CONNECT_TIMEOUT_S) -> optuna.storages.BaseStorage:
    """A client of the proxy at ``url``, once it answers; ValueError (one line) if it does not."""
    host, port = grpc_address(url)
    try:
        with quiet_experimental():
            storage = optuna.storages.GrpcStorageProxy(host=host, port=port)
        storage.wait_server_ready(timeout=timeout)
    except ImportError as exc:
        raise ValueError(f"grpc:// storage needs the grpc extra (pip install 'lightweight-nas[grpc]'): {exc}") from None
    except Exception as exc:  # grpc's FutureTimeoutError and friends: the proxy is not there
        raise ValueError(f"no gRPC storage proxy answers at {url} ({type(exc).__name__}); start one with "
                         "python -m nas.grpc_server --storage <database URL>") from None  # fmt: skip
    return storage
