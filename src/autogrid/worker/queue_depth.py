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
    depths: dict[str, int] = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in queues:
            try:
                _name, messages, _consumers = channel.queue_declare(queue=name)
            except ChannelError:
                messages = 0
            depths[name] = int(messages)
    return depths
