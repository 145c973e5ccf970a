"""The yardstick for bench_reads.py: FastAPI and asyncpg alone, answering GET /api/v1/bots.

It does what the list read must do at the least: verify the bearer token's signature and expiry
(the same HS256 secret), run one query of the caller's bots on a pooled connection, answer JSON.
Configured by BARE_DSN (a plain postgresql:// URL) and BARE_JWT_SECRET.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
from fastapi import FastAPI, Header, HTTPException

POOL: dict[str, asyncpg.Pool] = {}
SECRET = os.environ.get("BARE_JWT_SECRET", "")
QUERY = (
    "SELECT id, name, type, exchange, symbol, mode, status, paper, config, investment, "
    "created_at, updated_at "
    "FROM bots WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 50"
)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    POOL["pool"] = await asyncpg.create_pool(os.environ["BARE_DSN"], min_size=5, max_size=10)
    yield
    await POOL["pool"].close()


app = FastAPI(lifespan=lifespan)


@app.get("/api/v1/bots")
async def list_bots(authorization: str = Header("")) -> dict[str, Any]:
    scheme, _, token = authorization.partition(" ")
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid token") from None
    if scheme.lower() != "bearer" or claims.get("type") != "access":
        raise HTTPException(401, "invalid token")
    rows = await POOL["pool"].fetch(QUERY, claims["sub"])
    return {"items": [dict(row) for row in rows], "next_cursor": None}
