"""Credentials are encrypted at rest, keys rotate, and keys never show."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.errors import ConfigError
from hub.secrets import KEY_FILE_NAME, CredentialCipher
from hub.settings import Settings
from tests.connectors.leaks import assert_secret_absent


def settings(tmp_path: Path, key: str | None) -> Settings:
    return Settings(data_dir=tmp_path, secret_key=SecretStr(key) if key is not None else None)


def test_credentials_round_trip_and_the_token_hides_them() -> None:
    cipher = CredentialCipher([CredentialCipher.generate_key()])
    token = cipher.encrypt({"user": "u", "password": "pw-round-trip"})
    assert b"pw-round-trip" not in token
    assert cipher.decrypt(token) == {"user": "u", "password": "pw-round-trip"}


def test_a_token_from_an_older_key_still_opens_and_rotates_to_the_newest(tmp_path: Path) -> None:
    old, new = CredentialCipher.generate_key(), CredentialCipher.generate_key()
    token = CredentialCipher.from_settings(settings(tmp_path, old)).encrypt({"password": "p"})
    both = CredentialCipher.from_settings(settings(tmp_path, f"{new}, {old}"))
    assert both.decrypt(token) == {"password": "p"}
    rotated = both.rotate(token)
    only_new = CredentialCipher.from_settings(settings(tmp_path, new))
    assert only_new.decrypt(rotated) == {"password": "p"}
    with pytest.raises(ConfigError):
        only_new.decrypt(token)


def test_a_malformed_key_is_a_config_error_that_does_not_print_the_key(tmp_path: Path) -> None:
    bad = "not-a-fernet-key-but-secret-anyway"
    with pytest.raises(ConfigError) as info:
        CredentialCipher.from_settings(settings(tmp_path, bad))
    assert_secret_absent(bad, info.value)


def test_an_empty_key_list_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        CredentialCipher.from_settings(settings(tmp_path, " , "))


def test_without_a_configured_key_one_key_file_is_made_once_with_owner_only_access(tmp_path: Path) -> None:
    first = CredentialCipher.from_settings(settings(tmp_path / "data", None))
    token = first.encrypt({"password": "p"})
    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = CredentialCipher.from_settings(settings(tmp_path / "data", None))
    assert again.decrypt(token) == {"password": "p"}
    assert sorted(p.name for p in key_file.parent.iterdir()) == [KEY_FILE_NAME]


def test_the_cipher_repr_shows_no_key() -> None:
    key = CredentialCipher.generate_key()
    assert_secret_absent(key, CredentialCipher([key]))
