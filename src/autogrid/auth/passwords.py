"""Argon2id password hashing with OWASP parameters, off the event loop.

Hashing costs ~50 ms of CPU and 19 MiB of memory, so it runs in a small dedicated thread pool:
the event loop keeps serving other requests, and a burst of logins queues instead of allocating
19 MiB per waiting request (the default pool would allow 40 at once). argon2 releases the GIL, so
the workers really run in parallel.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1.
OWASP_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)
_HASHER = OWASP_HASHER
_T = TypeVar("_T")
_HASHING_POOL = ThreadPoolExecutor(
    max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="argon2"
)


async def _in_pool(function: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING_POOL, function, *args)


async def run_in_password_pool(function: Callable[..., _T], *args: Any) -> _T:
    """Other CPU-bound password work (the strength check), bounded by the same small pool."""
    return await _in_pool(function, *args)


def replace_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash and verify with ``hasher`` from now on; returns the one it replaces.

    Only the test suite calls it: its hundreds of registrations and logins run on argon2's
    cheapest parameters (tests/conftest.py), and the tests of hashing itself put
    ``OWASP_HASHER`` back.
    """
    global _HASHER
    previous, _HASHER = _HASHER, hasher
    _dummy_hash.cache_clear()  # made with the hasher it would be compared against
    return previous


def _verify_sync(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("dummy password to spend the same time as a real check")


def _verify_dummy_sync(password: str) -> bool:
    _verify_sync(_dummy_hash(), password)
    return False


async def hash_password(password: str) -> str:
    return await _in_pool(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await _in_pool(_verify_sync, password_hash, password)


async def verify_against_dummy(password: str) -> bool:
    """Spend the time of a real verification for an unknown email, so timing reveals nothing."""
    return await _in_pool(_verify_dummy_sync, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (checked after a login)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
