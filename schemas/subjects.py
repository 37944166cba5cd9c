"""The subjects of the project's events: a record's full name, which names its folder under `avro/`."""

from __future__ import annotations

VIEWED = "movieviews.events.MovieViewed"
REGISTERED = "movieviews.events.MovieRegistered"
