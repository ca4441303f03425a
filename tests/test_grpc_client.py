"""nas.grpc_client: grpc:// storage URLs, and a clear error where no proxy answers."""

import pytest

from nas.grpc_client import connect, grpc_address


def test_grpc_urls_name_a_host_and_a_port() -> None:
    assert grpc_address("grpc://db-host:13000") == ("db-host", 13000)
    assert grpc_address("grpc://[::1]:13000/") == ("::1", 13000)
    assert grpc_address("postgresql://nas@db/nas") is None
    for bad in ("grpc://db-host", "grpc://db-host:99999", "grpc://:13000"):
        with pytest.raises(ValueError, match="expected grpc://HOST:PORT"):
            grpc_address(bad)


def test_no_proxy_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="no gRPC storage proxy answers at grpc://127.0.0.1:9 .*nas.grpc_server"):
        connect("grpc://127.0.0.1:9", timeout=1.0)
