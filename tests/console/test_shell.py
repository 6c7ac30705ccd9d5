"""The console shell: served at / by the API process, navigation, API key, error banner."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.keys import Keys

from tests.conftest import EVAL_DIR, make_settings
from tests.console.driver import Console
from tests.live_server import serve_in_thread

UNLABELLED = """
return [...document.querySelectorAll("input, select, textarea, button")]
  .filter((c) => !(c.labels?.length || c.getAttribute("aria-label") || c.textContent.trim()))
  .map((c) => c.outerHTML.slice(0, 120));
"""
PAGES = [
    "Transcribe",
    "Live",
    "Speakers",
    "Speech",
    "Enhance",
    "Classifiers",
    "Music",
    "Models",
    "Jobs",
]


def test_console_is_served_by_the_api_process_with_no_external_assets(console_url: str) -> None:
    index = httpx.get(f"{console_url}/", follow_redirects=True)  # / leads to /console/
    assert index.url.path == "/console/" and index.history[0].status_code == 307
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert 'src="js/app.js"' in index.text
    assert "http://" not in index.text and "https://" not in index.text  # no CDN
    script = httpx.get(f"{console_url}/console/js/pages/transcribe.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    # Unknown paths answer the API's error body, not a page.
    missing = httpx.get(f"{console_url}/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error"]["message"]


def test_every_page_opens_from_the_navigation_by_keyboard_with_every_control_labelled(
    console: Console,
) -> None:
    console.open("transcribe")
    links = console.find_all("#nav a")
    assert [link.text for link in links] == PAGES
    console.find("body").send_keys(Keys.TAB)  # first stop: the skip link
    assert console.browser.switch_to.active_element.text == "Skip to content"
    for link, name in zip(console.find_all("#nav a"), PAGES, strict=True):
        link.send_keys(Keys.ENTER)
        console.wait_for(f'main[data-ready="{name.lower()}"]')
        assert console.find("main h1").text == name
        assert console.find("#nav a[aria-current=page]").text == name
        assert console.error_text() == "", console.error_text()
        assert console.browser.execute_script(UNLABELLED) == [], name
    console.snap("jobs")


def test_a_refused_upload_shows_the_api_message_and_the_service_keeps_answering(
    console: Console, console_url: str
) -> None:
    console.open("transcribe")
    console.choose_files("main form", "file", EVAL_DIR / "bad_inputs" / "random_bytes.mp3")
    console.find("#diarize").click()  # off: the streamed path refuses before streaming
    console.submit("main form")
    message = console.wait_text("#error", "HTTP 400", timeout=60)
    assert "field: file" in message
    console.snap("error")
    assert httpx.get(f"{console_url}/healthz").json()["status"] == "ok"


def test_the_api_key_is_kept_for_the_tab_and_sent_with_every_call(
    console: Console, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, api_keys="right-key")
    with serve_in_thread(settings) as keyed_url:
        keyed = Console(console.browser, keyed_url, console.screenshots)
        keyed.browser.get(f"{keyed_url}/console/#/models")
        keyed.browser.execute_script("sessionStorage.clear()")
        keyed.open("models")
        assert "Missing or invalid API key" in keyed.wait_text("#error", "HTTP 401")
        key = keyed.find("#api-key")
        key.send_keys("right-key", Keys.ENTER)
        keyed.wait_text("main", "model(s) loaded", timeout=30)
        assert keyed.error_text() == ""
        stored = keyed.browser.execute_script("return sessionStorage.getItem('tympan.apiKey')")
        assert stored == "right-key"
        keyed.open("models")  # a reload keeps the key for the tab
        keyed.wait_text("main", "whisper", timeout=30)
        keyed.browser.execute_script("sessionStorage.clear()")
