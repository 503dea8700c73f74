"""Encryption of connector credentials at rest (Fernet; MultiFernet for key rotation).

``HUB_SECRET_KEY`` holds one or more Fernet keys, comma-separated, newest first: tokens are
written with the first key and read with any of them, and ``rotate`` re-encrypts a token under
the first key. To rotate: prepend a new key, re-encrypt every stored token, then drop the old key.

When no key is configured (local development), ``CredentialCipher.from_settings`` generates one
once into ``<data_dir>/secret.key`` with mode 0600 and reuses it on later starts. Losing that file
loses every stored credential; production deployments set ``HUB_SECRET_KEY``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hub.errors import ConfigError
from hub.settings import Settings

__all__ = ["KEY_FILE_NAME", "CredentialCipher"]

KEY_FILE_NAME = "secret.key"


class CredentialCipher:
    """Encrypts credential dicts into tokens and back; holds its keys out of every repr."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError("no secret key: set HUB_SECRET_KEY to one or more Fernet keys")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                # The key itself must not appear in the message.
                raise ConfigError(
                    f"HUB_SECRET_KEY: key {position} is not a Fernet key (32 url-safe base64-encoded bytes)",
                    problems=[f"secret_key[{position - 1}]: not a Fernet key"],
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return f"CredentialCipher(keys={self.key_count})"

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        """The cipher for ``settings``: its ``secret_key`` list, else the data dir's key file."""
        if settings.secret_key is not None:
            keys = [k for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
            return cls(keys)
        return cls([_load_or_create_key_file(settings.data_dir / KEY_FILE_NAME)])

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key."""
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, credentials: dict[str, object]) -> bytes:
        """A token holding ``credentials`` as JSON, encrypted and authenticated with the newest key."""
        return self._fernet.encrypt(json.dumps(credentials, separators=(",", ":")).encode("utf-8"))

    def decrypt(self, token: bytes) -> dict[str, object]:
        """The credentials in ``token``; ConfigError when no configured key opens it."""
        try:
            data = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise ConfigError(
                "stored credentials cannot be decrypted with the configured keys (was HUB_SECRET_KEY changed?)"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError("stored credentials are not a JSON object")
        return data

    def rotate(self, token: bytes) -> bytes:
        """``token`` re-encrypted under the newest key (it may have been written with any key)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise ConfigError("stored credentials cannot be decrypted with the configured keys") from None


def _load_or_create_key_file(path: Path) -> str:
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the secret key file {path}: {exc.strerror}") from None
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        # link() fails when the name exists: of two processes starting together, one key wins
        # and both use it; the file never exists half-written.
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text("ascii").strip()
    except OSError as exc:
        raise ConfigError(f"no HUB_SECRET_KEY and cannot create {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return key.decode("ascii")
