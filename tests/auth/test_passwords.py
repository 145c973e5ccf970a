from __future__ import annotations

import asyncio
import time

import pytest
from argon2 import PasswordHasher

from autogrid.auth.passwords import (
    hash_password,
    needs_rehash,
    verify_against_dummy,
    verify_password,
)

# The app's own parameters: the rest of the suite hashes with the cheapest (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("production_password_hashing")


async def test_hash_is_argon2id_with_owasp_parameters() -> None:
    hashed = await hash_password("pw-12345678")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hash_password("pw-12345678") != hashed  # salted
    assert not needs_rehash(hashed)


async def test_verify() -> None:
    hashed = await hash_password("pw-12345678")
    assert await verify_password(hashed, "pw-12345678")
    assert not await verify_password(hashed, "pw-12345679")
    assert not await verify_password("not a hash", "pw-12345678")


async def test_outdated_or_broken_hashes_need_rehash() -> None:
    assert needs_rehash(PasswordHasher(time_cost=1, memory_cost=8_192).hash("pw"))
    assert needs_rehash("not a hash")


async def test_dummy_verification_never_succeeds() -> None:
    assert not await verify_against_dummy("dummy password to spend the same time as a real check")


async def test_hashing_does_not_block_the_event_loop() -> None:
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(hash_password("pw-12345678") for _ in range(4)))
    elapsed = time.perf_counter() - started
    done = True
    await task
    # Blocking hashes would leave the ticker one turn; a free loop ticks throughout.
    assert ticks >= 5, (ticks, elapsed)
