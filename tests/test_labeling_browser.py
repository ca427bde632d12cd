"""End to end in a real headless browser: Playwright (PyPI) driving Debian's chromium.

Opens the page of a run whose trainer has not asked anything yet, sees it say what it waits
for, sees two GIFs load once queries arrive, labels with the arrow keys, undoes one, and checks
the labels in the run's SQLite store.
"""

import os
from pathlib import Path

import pytest

from prefrl.labeling import LabelServer, PageConfig
from prefrl.store import LabelStore
from tests.test_labeling_api import SEGMENTS, make_run, stored, wait_rendered

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = os.environ.get("PREFRL_SCREENSHOT")  # e.g. docs/labeling.png to refresh the README's picture

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make setup)")

BOTH_GIFS_SHOWN = """() => ['left', 'right'].every((id) => {
    const img = document.getElementById(id);
    return img.complete && img.naturalWidth > 0 && img.src.endsWith('.gif') && !document.getElementById('pair').hidden;
})"""


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shown_query(page) -> int:
    page.wait_for_function(BOTH_GIFS_SHOWN, timeout=20_000)
    return int(page.get_attribute("#pair", "data-query"))


def next_query(page, previous: int) -> int:
    page.wait_for_function(f"() => document.getElementById('pair').dataset.query !== '{previous}'",
                           timeout=20_000)
    return shown_query(page)


def test_label_with_arrow_keys_and_undo(tmp_path, browser):
    path = make_run(tmp_path / "run", queries=0)
    with LabelServer(PageConfig.from_run(path, gold=0), port=0) as server:
        page = browser.new_page()
        page.goto(server.url)
        page.fill("#name", "ann")  # the page asks for a name first
        page.press("#name", "Enter")
        # nothing asked yet: the page says what it waits for, never a blank page
        page.wait_for_function("() => document.getElementById('waiting').textContent.includes('first queries')")
        assert page.is_hidden("#pair")

        store = LabelStore(path / "labels.sqlite")  # the trainer asks while the page is open
        for i in range(4):
            store.add_query(SEGMENTS[i], SEGMENTS[i + 1], 0, "uniform")
        store.close()

        q1 = shown_query(page)  # the page polls; two GIFs appear
        wait_rendered(server)  # rendered ahead: from now on the next pair is preloaded
        page.keyboard.press("ArrowLeft")
        q2 = next_query(page, q1)
        page.keyboard.press("ArrowRight")
        q3 = next_query(page, q2)
        swap_ms = page.evaluate("window.lastSwapMs")
        page.keyboard.press("ArrowUp")
        q4 = next_query(page, q3)
        assert "saved: equal on query" in page.inner_text("#note")
        page.keyboard.press("u")  # undo the "equal": its pair comes back
        assert next_query(page, q4) == q3
        assert "undone: equal" in page.inner_text("#note")
        page.keyboard.press("ArrowDown")  # can't tell
        assert next_query(page, q3) == q4
        page.wait_for_function("() => document.getElementById('counts').textContent.includes('yours: 3')")
        if SCREENSHOT:
            page.screenshot(path=SCREENSHOT)
        # a double press while saving stores nothing twice: the page or the server refuses it
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("() => document.getElementById('counts').textContent.includes('yours: 4')")
        page.wait_for_timeout(300)

    assert stored(path) == [(q1, "ann", "left"), (q2, "ann", "right"), (q3, "ann", "skip"), (q4, "ann", "left")]
    assert len({q1, q2, q3, q4}) == 4
    # ~15-50 ms here; the bound leaves room for a busy shared machine
    assert swap_ms is not None and swap_ms < 500, f"next pair on screen {swap_ms:.0f} ms after the key"


def test_two_labelers_see_different_pairs_and_the_stats_page(tmp_path, browser):
    path = make_run(tmp_path / "run", queries=3)
    with LabelServer(PageConfig.from_run(path, gold=0), port=0) as server:
        wait_rendered(server)  # else bob, polling while idle, may take the third pair before ann
        ann, bob = browser.new_page(), browser.new_page()
        ann.goto(server.url + "?labeler=ann")
        bob.goto(server.url + "?labeler=bob")
        qa, qb = shown_query(ann), shown_query(bob)
        assert qa != qb
        ann.click("text=Left is better")
        bob.click("text=Can't tell")
        next_query(ann, qa)
        bob.wait_for_function("() => document.getElementById('counts').textContent.includes('yours: 1')")
        stats = browser.new_page()
        stats.goto(server.url + "stats")
        stats.wait_for_selector("#labelers td")
        table = stats.inner_text("#labelers")
        assert "ann" in table and "bob" in table
    assert sorted(stored(path)) == sorted([(qa, "ann", "left"), (qb, "bob", "skip")])
