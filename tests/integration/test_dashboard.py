"""The dashboard and GraphiQL in a real headless Chromium (Debian's), driven by Playwright, offline.

The whole path is real: a view recorded through the API goes through Kafka and the stream job into Postgres,
and the page shows it through its subscriptions, without a reload.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from live_fixtures import serve
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright
from support.browser import LAUNCH_ARGS, ensure_chromium

from deploy.settings import Settings
from readmodel import apikeys

pytestmark = pytest.mark.anyio
RECORD = "mutation($id: ID!) { recordView(movieId: $id) { eventId } }"
# Job start on a busy machine, then the first view through every stage.
FIRST_VIEW_S = 180
# A deadline for a running pipeline's next view, not a speed: `movieviews bench freshness` measures how soon
# a view shows (its subscription p99 is the page's), on a quiet machine.
LIVE_S = 60


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = ensure_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(executable), args=list(LAUNCH_ARGS))
        yield browser
        await browser.close()


class Watched:
    """A page with its console errors and every request that tried to leave the machine."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: Request) -> None:
        if not request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:")):
            self.outside.append(request.url)


async def record_view(base: str, movie_id: str, key: str) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
        body = (
            await client.post(f"{base}/graphql", json={"query": RECORD, "variables": {"id": movie_id}})
        ).json()
    assert "errors" not in body, body


async def count_on_page(page: Page, movie_id: str) -> int | None:
    cell = page.locator(f'#top tr[data-movie="{movie_id}"] td.count')
    if await cell.count() == 0:
        return None
    return int((await cell.inner_text()).replace(",", ""))


async def wait_for_count(page: Page, movie_id: str, expected: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (seen := await count_on_page(page, movie_id)) != expected:
        assert time.monotonic() < deadline, f"page shows {seen}, expected {expected} within {seconds}s"
        await page.wait_for_timeout(10)


async def test_the_dashboard_shows_each_recorded_view_without_reloading(
    isolated: Settings, job: str, job_name: str, browser: Browser
) -> None:
    async with serve(isolated, job_name=job_name) as api:
        watched = Watched(await browser.new_page())
        page = watched.page
        await page.goto(f"{api.http}/dashboard")
        await page.evaluate("window.loadedOnce = true")
        movie = f"m-{uuid.uuid4().hex[:6]}"
        key = apikeys.create(isolated.owner_dsn, isolated.api_key_pepper, "dashboard test", ["views:write"])
        await record_view(api.http, movie, key)
        await wait_for_count(page, movie, 1, FIRST_VIEW_S)
        await record_view(api.http, movie, key)
        await wait_for_count(page, movie, 2, LIVE_S)
        assert await page.evaluate("window.loadedOnce") is True  # the same page: no reload happened
        await page.locator("#job-state", has_text="RUNNING").wait_for(timeout=30_000)
        await page.locator("#total-views", has_text="2").wait_for(timeout=LIVE_S * 1000)
        # Trending this hour: the two views, by their occurred_at (now).
        trending = page.locator(f'#trending tr[data-movie="{movie}"] td.count', has_text="2")
        await trending.wait_for(timeout=30_000)
        assert (await page.inner_text("#connection")) == "live"
        assert watched.errors == [] and watched.outside == []


async def test_graphiql_works_offline_and_answers_a_query(isolated: Settings, browser: Browser) -> None:
    async with serve(isolated) as api:
        watched = Watched(await browser.new_page())
        page = watched.page
        await page.goto(f"{api.http}/graphql")
        editor = page.locator(".graphiql-query-editor .CodeMirror")
        await editor.wait_for(timeout=30_000)
        await editor.click()
        await page.keyboard.press("Control+A")
        await page.keyboard.press("Delete")
        await page.keyboard.insert_text('{ movie(id: "m-nowhere") { id } }')
        await page.locator(".graphiql-execute-button").click()
        response = page.locator(".graphiql-response")
        await response.get_by_text("no movie 'm-nowhere' in the read model").wait_for(timeout=30_000)
        assert watched.outside == []
        assert [e for e in watched.errors if "m-nowhere" not in e] == []
