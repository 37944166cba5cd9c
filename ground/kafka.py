"""The configuration every confluent-kafka client of the project (producer, consumer, admin) starts from.

librdkafka prints its own log lines raw on stderr (`%3|...|FAIL|rdkafka#producer-N| ...`) unless the client
is given a Python logger: then confluent-kafka hands each line to it, mapped to a `logging` level, on the
client's `poll()`/`flush()` (STACK-NOTES). The entry points' logging configuration decides what is shown.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER = logging.getLogger("rdkafka")


def client_config(bootstrap: str, **config: Any) -> dict[str, Any]:
    """`bootstrap.servers` and the logger, then the client's own librdkafka keys (dotted, as librdkafka
    spells them: pass them as `**{"group.id": ...}`)."""
    return {"bootstrap.servers": bootstrap, "logger": LOGGER, **config}
