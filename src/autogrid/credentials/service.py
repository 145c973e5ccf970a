"""Exchange credential rules: verify a key for real before keeping it, store its secrets only
encrypted, and never let a secret reach a response, a log line or an error message.

Verification = one signed read (``fetch_balance``) through a fresh connector, plus the key's
permissions where the exchange reports them (Binance API restrictions); a key that can withdraw
is refused. A key's secrets are registered with the log scrubber once the exchange accepted them
(or when they are decrypted from storage), never before: whatever is registered vanishes from
every log line, so an unverified string would let a user blank out the logs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from autogrid.core.errors import Conflict, NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.credentials import repository
from autogrid.credentials.crypto import CredentialCryptoError, KeyRing, SecretContext
from autogrid.credentials.errors import CredentialInUse, CredentialUnreadable, UnknownExchange
from autogrid.credentials.schemas import CredentialCreate
from autogrid.credentials.signed_reads import signed_read, verify_key
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.catalog import ExchangeInfo, exchange_info
from autogrid.exchanges.pool import ConnectorFactory
from autogrid.exchanges.types import ApiCredentials, Balance, KeyPermissions
from autogrid.models import BotStatus, ExchangeCredential
from autogrid.observability.redaction import forget_secrets_of, register_secret

logger = logging.getLogger(__name__)

# "Uses it": the bot is trading or about to, or (stopping) still cancelling its open orders
# with this key; deleting the key then would strand those orders on the exchange.
# A halted or failed bot may still hold open orders that only this key can cancel.
ACTIVE_BOT_STATUSES = frozenset(
    {
        BotStatus.STARTING,
        BotStatus.RUNNING,
        BotStatus.PAUSED,
        BotStatus.STOPPING,
        BotStatus.HALTED,
        BotStatus.ERROR,
    }
)
MAX_CREDENTIALS_PER_USER = 50
# Keys shorter than this are masked entirely: showing 8 characters must leave most of it hidden.
MASK_MIN_LENGTH = 16

FIELD_API_KEY = "api_key"
FIELD_API_SECRET = "api_secret"  # noqa: S105 (a column name, not a secret)
FIELD_PASSPHRASE = "passphrase"  # noqa: S105
_LABEL_CONSTRAINT = "uq_exchange_credentials_user_id_label"


def mask_api_key(api_key: str) -> str:
    """``abcd...wxyz``: enough to recognise a key, too little to use it."""
    if len(api_key) < MASK_MIN_LENGTH:
        return "****"
    return f"{api_key[:4]}...{api_key[-4:]}"


def register_secrets(secrets: ApiCredentials, credential_id: uuid.UUID) -> None:
    """From now on every log line of this process has these (verified) strings scrubbed."""
    for value in secrets.secrets():
        register_secret(value, owner=credential_id)


# ----------------------------------------------------------------------------- encryption


@dataclass(frozen=True, slots=True, repr=False)
class SealedSecrets:
    key_version: int
    api_key: bytes
    api_secret: bytes
    passphrase: bytes | None


def seal_secrets(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, secrets: ApiCredentials
) -> SealedSecrets:
    """Encrypt each secret under the newest key, bound to this row, owner and field."""

    def seal(value: str, field: str) -> bytes:
        return keyring.encrypt(value, SecretContext(row_id, owner_id, field))

    return SealedSecrets(
        key_version=keyring.newest_key_id,
        api_key=seal(secrets.api_key, FIELD_API_KEY),
        api_secret=seal(secrets.secret, FIELD_API_SECRET),
        passphrase=(
            seal(secrets.passphrase, FIELD_PASSPHRASE) if secrets.passphrase is not None else None
        ),
    )


def open_secrets(
    keyring: KeyRing, credential: ExchangeCredential, *, register: bool = True
) -> ApiCredentials:
    """Decrypt a credential for use (and register its secrets with the log scrubber).

    Raises ``CredentialCryptoError`` (``UnknownKeyError`` when its key is no longer configured).
    """

    def unseal(blob: bytes, field: str) -> str:
        return keyring.decrypt(blob, SecretContext(credential.id, credential.user_id, field))

    passphrase = credential.passphrase_ciphertext
    secrets = ApiCredentials(
        api_key=unseal(credential.api_key_ciphertext, FIELD_API_KEY),
        secret=unseal(credential.api_secret_ciphertext, FIELD_API_SECRET),
        passphrase=unseal(passphrase, FIELD_PASSPHRASE) if passphrase is not None else None,
    )
    if register:
        register_secrets(secrets, credential.id)
    return secrets


def _store_sealed(credential: ExchangeCredential, sealed: SealedSecrets) -> None:
    credential.key_version = sealed.key_version
    credential.api_key_ciphertext = sealed.api_key
    credential.api_secret_ciphertext = sealed.api_secret
    credential.passphrase_ciphertext = sealed.passphrase


def _open_for_request(keyring: KeyRing, credential: ExchangeCredential) -> ApiCredentials:
    try:
        return open_secrets(keyring, credential)
    except CredentialCryptoError as error:
        # The message names a key id at most; never key material or plaintext.
        logger.error("credential cannot be decrypted credential_id=%s: %s", credential.id, error)
        raise CredentialUnreadable(
            "this credential's secrets cannot be decrypted with the server's current keys; "
            "the operator must restore the missing encryption key, or re-enter the key"
        ) from None


# ----------------------------------------------------------------------------- exchange reads


async def fetch_balances(
    keyring: KeyRing, connectors: ConnectorFactory, credential: ExchangeCredential
) -> dict[str, Balance]:
    """The stored key's balances: one signed read, failing like a verification does.

    Raises CredentialUnreadable, ExchangeKeyRefused, ExchangeUnavailable or ExchangeBadGateway.
    """

    async def balances(connector: ExchangeConnector) -> dict[str, Balance]:
        return await connector.fetch_balance()

    return await signed_read(
        connectors,
        exchange_id=credential.exchange,
        credential_id=credential.id,
        secrets=_open_for_request(keyring, credential),
        sandbox=credential.sandbox,
        read=balances,
        purpose="balance read",
    )


def permissions_json(permissions: KeyPermissions | None) -> dict[str, Any] | None:
    if permissions is None:
        return None
    return {
        "can_trade": permissions.can_trade,
        "can_withdraw": permissions.can_withdraw,
        "flags": dict(permissions.raw),
    }


def _tradable_exchange(requested: str, sandbox: bool) -> ExchangeInfo:
    info = exchange_info(requested)
    if info is None:
        # The input is not echoed: a user may have pasted something private into the wrong field.
        raise UnknownExchange("unknown exchange id (use a ccxt id such as binance)")
    if not info.can_trade:
        raise Unprocessable(f"{info.exchange_id} is supported for market data only")
    if sandbox and not info.sandbox:
        raise Unprocessable(f"{info.exchange_id} has no sandbox (testnet)")
    return info


# ----------------------------------------------------------------------------- use cases


async def create_credential(
    session: AsyncSession,
    keyring: KeyRing,
    connectors: ConnectorFactory,
    user_id: uuid.UUID,
    body: CredentialCreate,
) -> ExchangeCredential:
    info = _tradable_exchange(body.exchange, body.sandbox)
    if await repository.count_for_user(session, user_id) >= MAX_CREDENTIALS_PER_USER:
        raise Conflict(f"at most {MAX_CREDENTIALS_PER_USER} credentials per user")
    await _ensure_label_free(session, user_id, body.label)
    secrets = ApiCredentials(
        api_key=body.api_key.get_secret_value(),
        secret=body.api_secret.get_secret_value(),
        passphrase=body.passphrase.get_secret_value() if body.passphrase is not None else None,
    )
    # The id exists before the row does: the ciphertexts are bound to it.
    credential_id = uuid.uuid4()
    # The connector scrubs these very secrets out of its own errors while verifying.
    permissions = await verify_key(
        connectors,
        exchange_id=info.exchange_id,
        credential_id=credential_id,
        secrets=secrets,
        sandbox=body.sandbox,
    )
    register_secrets(secrets, credential_id)
    credential = ExchangeCredential(
        id=credential_id,
        user_id=user_id,
        exchange=info.exchange_id,
        label=body.label,
        api_key_masked=mask_api_key(secrets.api_key),
        sandbox=body.sandbox,
        permissions=permissions_json(permissions),
        last_validated_at=utcnow(),
    )
    _store_sealed(credential, seal_secrets(keyring, credential_id, user_id, secrets))
    session.add(credential)
    await _flush(session)
    logger.info(
        "credential created credential_id=%s user_id=%s exchange=%s sandbox=%s",
        credential.id,
        user_id,
        credential.exchange,
        credential.sandbox,
    )
    return credential


async def list_credentials(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[ExchangeCredential], int]:
    return await repository.list_for_user(session, user_id, page.limit, page.offset)


async def get_credential(
    session: AsyncSession, user_id: uuid.UUID, credential_id: uuid.UUID, *, lock: bool = False
) -> ExchangeCredential:
    """The user's credential; another user's is reported exactly like a missing one."""
    credential = await repository.get_for_user(session, user_id, credential_id, lock=lock)
    if credential is None:
        raise NotFound("credential not found")
    return credential


async def rename_credential(
    session: AsyncSession, user_id: uuid.UUID, credential_id: uuid.UUID, label: str
) -> ExchangeCredential:
    credential = await get_credential(session, user_id, credential_id)
    if label != credential.label:
        await _ensure_label_free(session, user_id, label, except_id=credential.id)
        credential.label = label
        await _flush(session)
    return credential


async def delete_credential(
    session: AsyncSession, user_id: uuid.UUID, credential_id: uuid.UUID
) -> None:
    """Delete unless an active bot uses it; inactive bots using it are detached (credential_id
    becomes null). The credential and its bots stay locked until commit, so no bot starts with
    it in between."""
    credential = await get_credential(session, user_id, credential_id, lock=True)
    bots = await repository.lock_bots_using(session, credential.id)
    active = [bot for bot in bots if bot.status in ACTIVE_BOT_STATUSES]
    if active:
        raise CredentialInUse(
            f"{len(active)} active bot(s) use this credential; stop them first",
            details={
                "bots": [{"id": str(b.id), "name": b.name, "status": b.status} for b in active]
            },
        )
    detached = await repository.detach_from_bots(session, credential.id) if bots else 0
    await repository.delete_credential(session, credential.id)
    forget_secrets_of(credential.id)
    logger.info(
        "credential deleted credential_id=%s user_id=%s detached_bots=%d",
        credential.id,
        user_id,
        detached,
    )


async def revalidate_credential(
    session: AsyncSession,
    keyring: KeyRing,
    connectors: ConnectorFactory,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> ExchangeCredential:
    """Verify the stored key again; on success refresh its permissions and last_validated_at."""
    credential = await get_credential(session, user_id, credential_id)
    secrets = _open_for_request(keyring, credential)
    permissions = await verify_key(
        connectors,
        exchange_id=credential.exchange,
        credential_id=credential.id,
        secrets=secrets,
        sandbox=credential.sandbox,
    )
    credential.permissions = permissions_json(permissions)
    credential.last_validated_at = utcnow()
    await _flush(session)
    return credential


async def _ensure_label_free(
    session: AsyncSession, user_id: uuid.UUID, label: str, *, except_id: uuid.UUID | None = None
) -> None:
    if await repository.label_taken(session, user_id, label, except_id=except_id):
        raise Conflict("you already have a credential with this label")


async def _flush(session: AsyncSession) -> None:
    """Flush, turning a lost race on the label into 409 and on a deleted row into 404."""
    try:
        await session.flush()
    except IntegrityError as error:
        if _LABEL_CONSTRAINT in str(error.orig):
            raise Conflict("you already have a credential with this label") from None
        raise
    except StaleDataError:
        raise NotFound("credential not found") from None
