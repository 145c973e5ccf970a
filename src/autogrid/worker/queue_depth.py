"""How many messages wait in each task queue, through the broker's own protocol.

``queue_declare`` answers with the queue's message count: Redis counts its lists, the embedded
broker its message files. Not the passive form: kombu's Redis transport answers it "no such queue"
for a queue that holds messages under a key prefix. Declaring one of our own queues changes
nothing (workers declare them too).
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery
from kombu.exceptions import ChannelError


def queue_depths(app: Celery, queues: Sequence[str]) -> dict[str, int]:
    """Raises kombu's OperationalError (or an OSError) at the first refused connection: a fleet
    view or the metrics task reports a broker that is down at once, instead of after kombu's
    default retries (three attempts over 6 s); each is asked again soon anyway."""
    depths: dict[str, int] = {}
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=0)
        channel = connection.default_channel
        for name in queues:
            try:
                _name, messages, _consumers = channel.queue_declare(queue=name)
            except ChannelError:
                messages = 0
            depths[name] = int(messages)
    return depths
