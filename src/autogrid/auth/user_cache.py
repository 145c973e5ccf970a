"""The signed-in user as every read-only route sees them: an immutable copy of their row, kept
in process memory while the user's auth epoch (see ``denylist``) vouches for it.

Loading the user row was a database round trip on every authenticated request. The copy is
trusted only under the exact epoch Redis (or, embedded, this process) holds for the user now;
every change that must cut or alter access bumps the epoch, so the next request of every process
reloads the row. A copy is also reloaded once it is a minute old: if the bump after a commit
fails, a row read just before that commit is not trusted for long. Routes that change the user
take the session-attached row instead (``CurrentUserRow``): a frozen ``AuthUser`` cannot be
written to by mistake.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.auth.denylist import AccessTokenDenylist
from autogrid.core.db import after_commit
from autogrid.models import AuthUser

# Users whose row one process keeps (a few hundred bytes each).
CACHED_USERS = 4096
# The longest a copy is trusted, whatever its epoch says.
MAX_AGE_SECONDS = 60.0


class AuthUserCache:
    """Copies of user rows, each under the epoch it was loaded at; least recently used go first."""

    def __init__(
        self,
        capacity: int = CACHED_USERS,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[uuid.UUID, tuple[str, float, AuthUser]] = OrderedDict()

    def get(self, user_id: uuid.UUID, epoch: str) -> AuthUser | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] != epoch or self._clock() - entry[1] > self._max_age:
            return None
        self._entries.move_to_end(user_id)
        return entry[2]

    def put(self, epoch: str, user: AuthUser) -> None:
        self._entries[user.id] = (epoch, self._clock(), user)
        self._entries.move_to_end(user.id)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def close(self) -> None:
        """Forget every copy: nothing read under this app's lifetime serves after it."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


async def invalidate_cached_user(
    session: AsyncSession, denylist: AccessTokenDenylist, user_id: uuid.UUID
) -> None:
    """Call with every change to the user's row that authentication or a route reads.

    Bumped now (if Redis cannot take it, the change is refused: a 503 rolls it back) and again
    after the commit: a request that read the epoch after the first bump may have loaded the row
    before the commit, and cached the old row under the new epoch.
    """
    await denylist.bump_epoch(user_id)

    async def bump_again() -> None:
        await denylist.bump_epoch(user_id)

    after_commit(session, bump_again)
