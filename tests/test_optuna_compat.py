"""nas.optuna_compat: the Optuna internals the storage relies on are checked, loudly."""

from __future__ import annotations

import optuna
import pytest

from nas import optuna_compat


def test_optuna_internals_are_where_we_expect_them() -> None:
    optuna_compat.check()


def test_a_missing_internal_fails_loudly_naming_the_optuna_version(monkeypatch) -> None:
    """What an upgrade that renames a private method looks like."""
    monkeypatch.delattr(optuna.storages.RDBStorage, "_set_trial_attr_without_commit")
    with pytest.raises(RuntimeError, match=rf"optuna {optuna.__version__} lacks .*_set_trial_attr_without_commit"):
        optuna_compat.check()
