"""The token credential every Azure adapter uses, chosen by ``AUTOCANARY_CREDENTIAL``.

- ``default``: azure-identity's DefaultAzureCredential (managed identity in Azure, developer
  logins elsewhere); ``AZURE_CLIENT_ID`` picks a user-assigned managed identity.
- ``managed-identity``: ManagedIdentityCredential only (system-assigned, or the user-assigned
  identity named by ``AZURE_CLIENT_ID``).
- ``local``: a static bearer token for the local emulator, which accepts any token over HTTPS.
  Refused unless ``AUTOCANARY_ARM_ENDPOINT`` points the app away from Azure, so that a static
  token is never sent to Azure.

azure.identity is imported only when a credential is built.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigurationError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential

    from shared.settings import Settings

LOCAL_TOKEN = "autocanary-local-token"
TOKEN_LIFETIME_S = 3600


class StaticTokenCredential:
    """A fixed bearer token, valid for an hour from each request (local emulator only).

    Implements azure-core's ``TokenCredential`` (``get_token``) and ``SupportsTokenInfo``
    (``get_token_info``, preferred by BearerTokenCredentialPolicy when present:
    Azure/azure-sdk-for-python sdk/core/azure-core/azure/core/credentials.py and
    pipeline/policies/_authentication.py).
    """

    def __init__(self, token: str = LOCAL_TOKEN) -> None:
        if not token:
            raise ConfigurationError("a static token credential needs a non-empty token")
        self._token = token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + TOKEN_LIFETIME_S)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, int(time.time()) + TOKEN_LIFETIME_S)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def build_credential(settings: Settings) -> TokenCredential:
    """The credential named by ``settings.credential``; ConfigurationError for an unknown
    kind, or for ``local`` without an ARM endpoint override."""
    kind = settings.credential
    if kind == "local":
        if not settings.arm_endpoint:
            raise ConfigurationError(
                "AUTOCANARY_CREDENTIAL=local is only for the local emulator: set "
                "AUTOCANARY_ARM_ENDPOINT, or use default or managed-identity"
            )
        return StaticTokenCredential()
    if kind == "managed-identity":
        from azure.identity import ManagedIdentityCredential

        # ManagedIdentityCredential(client_id=None) is the system-assigned identity.
        return ManagedIdentityCredential(client_id=settings.client_id)
    if kind == "default":
        from azure.identity import DefaultAzureCredential

        if settings.client_id:
            return DefaultAzureCredential(managed_identity_client_id=settings.client_id)
        return DefaultAzureCredential()
    raise ConfigurationError(
        f"unknown credential kind {kind!r}: use default, managed-identity or local"
    )
