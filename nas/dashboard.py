"""python -m nas.dashboard: optuna-dashboard on the study storage, with the trials' artifacts.

The same as ``optuna-dashboard sqlite:///studies/nas.db --artifact-dir studies/artifacts``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import optuna_dashboard
from optuna.artifacts import FileSystemArtifactStore

from nas.cli import OneLineErrorParser, host_arg, port_arg
from nas.grpc_client import grpc_address
from nas.paths import DEFAULT_STORAGE
from nas.storage import default_artifact_dir, existing_study_names, make_storage


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="python -m nas.dashboard", description=__doc__)
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    parser.add_argument("--artifact-dir", default=None, help="default: artifacts beside a SQLite file")
    parser.add_argument("--host", type=host_arg, default="127.0.0.1")
    parser.add_argument("--port", type=port_arg, default=8080)
    args = parser.parse_args(argv)
    try:
        names = existing_study_names(args.storage)
    except ValueError as exc:
        parser.error(str(exc))
    storage = make_storage(args.storage) if grpc_address(args.storage) else args.storage  # a URL Optuna reads
    artifact_dir = Path(args.artifact_dir or default_artifact_dir(args.storage))
    artifact_dir.mkdir(parents=True, exist_ok=True)
    print(f"studies: {', '.join(names) or 'none yet'}")
    print(f"optuna-dashboard on http://{args.host}:{args.port}/dashboard (storage {storage})")
    print(f"same as: optuna-dashboard {storage} --artifact-dir {artifact_dir} --host {args.host} --port {args.port}")
    sys.stdout.flush()
    optuna_dashboard.run_server(
        storage, host=args.host, port=args.port, artifact_store=FileSystemArtifactStore(str(artifact_dir))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
