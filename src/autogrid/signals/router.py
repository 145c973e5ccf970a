"""/api/v1/signal-sources (who may post signals, to which bots) and /api/v1/signals (the entry
point for senders, and each signal's fate)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from autogrid.api.deps import SessionDep, SettingsDep
from autogrid.api.rate_limit_middleware import api_rate_limiter, budget_headers, rate_limited
from autogrid.auth.dependencies import ClientIP, CurrentUser
from autogrid.core.errors import error_json
from autogrid.core.pagination import MAX_PAGE_SIZE, PageDep
from autogrid.signals import entry_limit, intake, service
from autogrid.signals.dispatch import NoopSignalDispatcher, SignalDispatcher, send_after_commit
from autogrid.signals.llm_fallback import llm_enabled
from autogrid.signals.outcomes import SignalOutcome
from autogrid.signals.schemas import (
    ParseAnswer,
    ParseRequest,
    SignalAccepted,
    SignalCursorPage,
    SignalRead,
    SourceCreate,
    SourcePage,
    SourceRead,
    SourceUpdate,
    SourceWithToken,
)

sources_router = APIRouter(prefix="/signal-sources", tags=["signals"])
signals_router = APIRouter(prefix="/signals", tags=["signals"])

MAX_SIGNAL_ID = 2**63 - 1
# What a token looks like ("ags_" and URL-safe base64). The entry's path only matches that shape,
# so /signals/parse and /signals/{id} never reach it and any other path answers 404 like an
# unknown token, before any lookup.
TOKEN_PATTERN = r"^ags_[A-Za-z0-9_-]+$"  # noqa: S105  (a shape, not a secret)


class _TokenConvertor(Convertor[str]):
    regex = TOKEN_PATTERN[1:-1]

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("signal_token", _TokenConvertor())
ACCEPTED_MEDIA = frozenset({"text/plain", "application/json"})
_ENTRY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the alert as the sender writes it (JSON or text; see docs/signals.md)",
        "content": {
            # Any text, any JSON: a malformed signal is stored as unparsable, not refused.
            "text/plain": {"schema": {"type": "string", "maxLength": 8192}},
            "application/json": {"schema": {}},
        },
    }
}
_ENTRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Over the source's SIGNAL_RATE_LIMIT (or, for a token that opens no "
        "source, the anonymous per-address limit); nothing stored, Retry-After says when"
    },
    403: {"description": "Posted from an address the source does not allow (stored as such)"},
    404: {"description": "No enabled source has this token"},
    405: {"description": "Not a token's shape but another route's path (digits: a signal's id)"},
    413: {"description": "The body is larger than SIGNAL_MAX_BODY_BYTES"},
    415: {"description": "Not text/plain or application/json"},
}


@sources_router.post("", response_model=SourceWithToken, status_code=status.HTTP_201_CREATED)
async def create_source(body: SourceCreate, user: CurrentUser, session: SessionDep) -> Any:
    """Create a signal source; its token is in this answer only."""
    return await service.create_source(session, user, body)


@sources_router.get("", response_model=SourcePage)
async def list_sources(user: CurrentUser, session: SessionDep, page: PageDep) -> SourcePage:
    """List your signal sources (tokens are never shown again)."""
    items, total = await service.list_sources(session, user, page)
    return SourcePage(items=items, total=total, limit=page.limit, offset=page.offset)


@sources_router.get("/{source_id}", response_model=SourceRead)
async def get_source(source_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    """Read one of your signal sources."""
    return await service.read_source(session, user, source_id)


@sources_router.patch("/{source_id}", response_model=SourceRead)
async def update_source(
    source_id: uuid.UUID, body: SourceUpdate, user: CurrentUser, session: SessionDep
) -> Any:
    """Change a source: name, target bots, allowed addresses, windows, enabled."""
    return await service.update_source(session, user, source_id, body)


@sources_router.post("/{source_id}/rotate", response_model=SourceWithToken)
async def rotate_token(source_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    """Replace the source's token: the old one stops working at once; the new one is shown once."""
    return await service.rotate_token(session, user, source_id)


@sources_router.delete("/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(source_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Delete a source and its signals."""
    await service.delete_source(session, user, source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@signals_router.get("", response_model=SignalCursorPage)
async def list_signals(
    user: CurrentUser,
    session: SessionDep,
    after_id: Annotated[int, Query(ge=0, le=MAX_SIGNAL_ID, description="a cursor")] = 0,
    source_id: Annotated[uuid.UUID | None, Query(description="only this source's")] = None,
    outcome: Annotated[
        list[SignalOutcome] | None, Query(max_length=len(SignalOutcome), description="any of")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")] = 50,
) -> SignalCursorPage:
    """Your signals and their outcomes, oldest first after the cursor."""
    page = await service.list_signals(
        session, user, after_id=after_id, limit=limit, source_id=source_id, outcomes=outcome or ()
    )
    return SignalCursorPage(
        items=[SignalRead.model_validate(signal) for signal in page.signals],
        next_after_id=page.next_after_id,
        has_more=page.has_more,
    )


@signals_router.post("/parse", response_model=ParseAnswer)
async def parse(body: ParseRequest, user: CurrentUser) -> ParseAnswer:
    """Dry run: what a message would ask for, or where it fails; nothing is stored or done."""
    del user  # authenticated only: the grammar is not a public service
    return service.dry_run(body.body, body.default_symbol)


# Digits only in the path (``:int``): /signals/parse and /signals/{token} never reach this route.
@signals_router.get("/{signal_id:int}", response_model=SignalRead)
async def get_signal(
    signal_id: Annotated[int, Path(ge=1, le=MAX_SIGNAL_ID)],
    user: CurrentUser,
    session: SessionDep,
) -> Any:
    """One of your signals: its body, what was understood, its outcome per target bot."""
    return SignalRead.model_validate(await service.get_signal(session, user, signal_id))


def _dispatcher(request: Request) -> SignalDispatcher:
    dispatcher: SignalDispatcher | None = getattr(request.app.state, "signal_dispatcher", None)
    return dispatcher or NoopSignalDispatcher()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@signals_router.post(
    "/{token:signal_token}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SignalAccepted,
    responses=_ENTRY_RESPONSES,
    openapi_extra=_ENTRY_BODY,
)
async def post_signal(
    token: Annotated[str, Path(max_length=200, pattern=TOKEN_PATTERN)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client_ip: ClientIP,
    background: BackgroundTasks,
) -> Any:
    """Post a signal (no bearer token: the source's token in the path is the credential)."""
    peer = request.client.host if request.client else None
    presented = await entry_limit.identify(session, token)
    verdict = await entry_limit.spend(api_rate_limiter(request.app.state), presented, peer)
    if verdict is not None and not verdict.allowed:
        return rate_limited(request, verdict)
    limit_headers = budget_headers(verdict) if verdict is not None else {}
    if _media_type(request) not in ACCEPTED_MEDIA:
        return error_json(
            request, 415, "unsupported_media_type", "send text/plain or application/json"
        )
    received = await intake.receive(
        session,
        presented=presented,
        body=await request.body(),
        client_ip=client_ip,
        llm_enabled=llm_enabled(settings),
    )
    signal = received.signal
    answer = SignalAccepted(
        id=signal.id,
        outcome=SignalOutcome(signal.outcome),
        reason=signal.reason,
        error_position=signal.error_position,
    )
    if signal.outcome == SignalOutcome.FORBIDDEN_IP:
        # Answered, not raised: the refusal is stored and committed with its event.
        return error_json(
            request, 403, "forbidden_ip", signal.reason or "address not allowed", {"id": signal.id}
        )
    if received.execute:
        background.add_task(send_after_commit, _dispatcher(request), signal.id)
    return JSONResponse(
        answer.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED, headers=limit_headers
    )
