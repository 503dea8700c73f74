"""Who is calling: the ``Caller`` value, the RBAC matrix of the core schema, and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.errors import AuthError, NotFound, PermissionDenied

__all__ = [
    "DEMO_TENANT_ID",
    "ROLE_PERMISSIONS",
    "SYSTEM",
    "Caller",
    "hash_api_key",
    "new_api_key",
    "permission_matches",
    "split_api_key",
]

DEMO_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")

# The RBAC matrix of the core schema (section 2.2). A user's own ``permissions`` column adds to it.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"*:*"}),
    "approver": frozenset(
        {"judgment:*", "workflow:read", "approval:*", "rule:approve", "deployment:approve"}
    ),
    "operator": frozenset(
        {"judgment:read", "judgment:execute", "workflow:read", "workflow:execute", "bi:read"}
    ),
    "viewer": frozenset({"judgment:read", "workflow:read", "bi:read", "mcp:read"}),
}

KEY_PREFIX = "hub_"
# The visible part of a key: "hub_" plus 8 characters, enough to tell keys apart in listings.
_VISIBLE_CHARS = 8


def permission_matches(granted: str, wanted: str) -> bool:
    """Whether one granted pattern (``*:*``, ``judgment:*``, ``mcp:read``) covers a wanted permission."""
    g_res, _, g_act = granted.partition(":")
    w_res, _, w_act = wanted.partition(":")
    return (g_res in ("*", w_res)) and (g_act in ("*", w_act))


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: tenant, user, role and effective permissions."""

    tenant_id: uuid.UUID
    tenant_name: str
    user_id: uuid.UUID | None
    username: str
    role: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    actor_type: str = "user"
    api_key_prefix: str | None = None

    @classmethod
    def of(
        cls,
        *,
        tenant_id: uuid.UUID,
        tenant_name: str,
        user_id: uuid.UUID | None,
        username: str,
        role: str,
        extra_permissions: list[str] | tuple[str, ...] | None = None,
        actor_type: str = "user",
        api_key_prefix: str | None = None,
    ) -> Caller:
        """Build a caller whose permissions are its role's plus its own."""
        perms = ROLE_PERMISSIONS.get(role, frozenset()) | frozenset(extra_permissions or ())
        return cls(tenant_id, tenant_name, user_id, username, role, perms, actor_type, api_key_prefix)

    def can(self, permission: str) -> bool:
        """Whether any granted pattern covers ``permission``; ``""`` is open to every caller."""
        if not permission:
            return True
        return any(permission_matches(g, permission) for g in self.permissions)

    def require(self, permission: str) -> None:
        """Raise ``PermissionDenied`` unless the caller holds ``permission``."""
        if not self.can(permission):
            raise PermissionDenied(
                f"role '{self.role}' of user '{self.username}' lacks permission '{permission}'"
            )

    @property
    def is_admin(self) -> bool:
        """Admins hold ``*:*``."""
        return self.can("*:*") or self.role == "admin"

    def describe(self) -> dict[str, object]:
        """A JSON-safe description, free of secrets."""
        return {
            "tenant_id": str(self.tenant_id),
            "tenant": self.tenant_name,
            "user_id": str(self.user_id) if self.user_id else None,
            "username": self.username,
            "role": self.role,
            "permissions": sorted(self.permissions),
            "actor_type": self.actor_type,
        }


SYSTEM = Caller(DEMO_TENANT_ID, "demo", None, "system", "admin", frozenset({"*:*"}), "system")


def new_api_key() -> tuple[str, str]:
    """A new random key and its visible prefix."""
    body = secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}{body}"
    return key, key[: len(KEY_PREFIX) + _VISIBLE_CHARS]


def split_api_key(key: str) -> str:
    """The visible prefix of a presented key; ``AuthError`` when it is not one of ours."""
    if not key.startswith(KEY_PREFIX) or len(key) < len(KEY_PREFIX) + _VISIBLE_CHARS + 16:
        raise AuthError("the API key is malformed")
    return key[: len(KEY_PREFIX) + _VISIBLE_CHARS]


def hash_api_key(key: str) -> str:
    """SHA-256 of the key.

    Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force, and a
    slow KDF would cost milliseconds on every HTTP request.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


def ensure_usable(
    *, revoked_at: datetime | None, expires_at: datetime | None, user_status: str, tenant_status: str
) -> None:
    """Raise ``AuthError`` for a revoked or expired key, or an inactive user or tenant."""
    if revoked_at is not None:
        raise AuthError("the API key has been revoked")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise AuthError("the API key has expired")
    if user_status != "active":
        raise AuthError(f"the key's user is {user_status}")
    if tenant_status != "active":
        raise AuthError(f"the key's tenant is {tenant_status}")


def unknown(what: str, name: str) -> NotFound:
    """The error for a tenant or user that does not exist."""
    return NotFound(f"no {what} named '{name}'")
