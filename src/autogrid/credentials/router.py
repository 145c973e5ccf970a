"""/api/v1/credentials: the user's exchange API keys (verified, encrypted, never shown again)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response, status

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import Page, PageDep
from autogrid.credentials import service
from autogrid.credentials.dependencies import (
    ConnectorFactoryDep,
    KeyRingDep,
    limit_key_verifications,
)
from autogrid.credentials.schemas import CredentialCreate, CredentialRead, CredentialUpdate

router = APIRouter(prefix="/credentials", tags=["credentials"])


def _responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": ErrorResponse, "description": text} for code, text in descriptions.items()
    }


_VERIFY_RESPONSES = _responses(
    {
        409: "Label already used, or credential limit reached",
        422: "Invalid input, unknown exchange, key refused by the exchange, or key can withdraw",
        429: "Too many key verifications",
        502: "The exchange gave an unexpected answer",
        503: "The exchange is not answering",
    }
)


@router.post(
    "",
    response_model=CredentialRead,
    status_code=status.HTTP_201_CREATED,
    responses=_VERIFY_RESPONSES,
    dependencies=[Depends(limit_key_verifications)],
)
async def create_credential(
    body: CredentialCreate,
    user: CurrentUser,
    session: SessionDep,
    keyring: KeyRingDep,
    connectors: ConnectorFactoryDep,
) -> CredentialRead:
    """Verify an exchange API key with the exchange and store it encrypted."""
    credential = await service.create_credential(session, keyring, connectors, user.id, body)
    return CredentialRead.model_validate(credential)


@router.get("", response_model=Page[CredentialRead])
async def list_credentials(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[CredentialRead]:
    """List your exchange credentials, oldest first."""
    credentials, total = await service.list_credentials(session, user.id, page)
    return Page[CredentialRead](
        items=[CredentialRead.model_validate(credential) for credential in credentials],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{credential_id}", response_model=CredentialRead)
async def get_credential(
    credential_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> CredentialRead:
    """Show one credential (the API key masked, the secrets never)."""
    credential = await service.get_credential(session, user.id, credential_id)
    return CredentialRead.model_validate(credential)


@router.patch(
    "/{credential_id}",
    response_model=CredentialRead,
    responses=_responses({409: "Label already used"}),
)
async def update_credential(
    credential_id: uuid.UUID, body: CredentialUpdate, user: CurrentUser, session: SessionDep
) -> CredentialRead:
    """Rename a credential."""
    credential = await service.rename_credential(session, user.id, credential_id, body.label)
    return CredentialRead.model_validate(credential)


@router.delete(
    "/{credential_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_responses({409: "An active bot uses this credential"}),
)
async def delete_credential(
    credential_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> None:
    """Delete a credential that no active bot uses."""
    await service.delete_credential(session, user.id, credential_id)


@router.post(
    "/{credential_id}/validate",
    response_model=CredentialRead,
    responses=_VERIFY_RESPONSES | _responses({500: "Stored secrets cannot be decrypted"}),
    dependencies=[Depends(limit_key_verifications)],
)
async def validate_credential(
    credential_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    keyring: KeyRingDep,
    connectors: ConnectorFactoryDep,
) -> CredentialRead:
    """Verify a stored key with the exchange again and refresh its permissions."""
    credential = await service.revalidate_credential(
        session, keyring, connectors, user.id, credential_id
    )
    return CredentialRead.model_validate(credential)
