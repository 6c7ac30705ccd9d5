"""Real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

``Console`` wraps the few things the page tests do: open a page, choose files, click, wait
for text, and save a screenshot at a laptop and a phone width.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

__all__ = ["CHROMEDRIVER", "CHROMIUM", "Console", "launch_chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LAPTOP = (1280, 900)
PHONE = (390, 844)


def launch_chromium(profile: Path, fake_microphone: Path | None = None) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile, no background traffic, and (when given) a fake
    microphone that plays ``fake_microphone`` (a WAV file) in a loop."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    if fake_microphone is not None:
        for flag in (
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_microphone}",
        ):
            options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def chromium_missing() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} is not installed (Debian packages chromium, chromium-driver)"
    return None


class Console:
    """The console in one browser tab, at ``base_url``."""

    def __init__(self, browser: webdriver.Chrome, base_url: str, screenshots: Path) -> None:
        self.browser = browser
        self.base_url = base_url
        self.screenshots = screenshots

    def open(self, page: str) -> None:
        """Show ``page`` and wait until it has rendered."""
        self.browser.get(f"{self.base_url}/console/#/{page}")
        self.browser.refresh()  # a hash change alone keeps the old tab state
        self.wait_for(f'main[data-ready="{page}"]')

    def find(self, css: str) -> WebElement:
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, css: str, timeout: float = 30) -> WebElement:
        """The first element matching ``css``, once it exists."""
        return WebDriverWait(self.browser, timeout).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def wait_until(self, condition: Callable[[], object], timeout: float = 30) -> object:
        """``condition()``'s first truthy value; elements re-rendered meanwhile are retried."""
        wait = WebDriverWait(
            self.browser, timeout, ignored_exceptions=[StaleElementReferenceException]
        )
        return wait.until(lambda _: condition())

    def wait_text(self, css: str, text: str, timeout: float = 120) -> str:
        """The text of ``css`` once it contains ``text`` (case-insensitive)."""

        def has_text() -> str | bool:
            for element in self.find_all(css):
                content = element.text
                if text.lower() in content.lower():
                    return content
            return False

        try:
            return str(self.wait_until(has_text, timeout))
        except TimeoutException:
            raise AssertionError(
                f"{text!r} never appeared in {css}; error banner: {self.error_text()!r}; "
                f"browser log: {self.browser.get_log('browser')[-5:]}"
            ) from None

    def choose_files(self, form: str, name: str, *paths: Path) -> None:
        """Choose files in the file input ``name`` of the form matching ``form``."""
        field = self.find(f'{form} input[type="file"][name="{name}"]')
        field.send_keys("\n".join(str(path) for path in paths))

    def drop_file(self, zone: str, path: Path) -> None:
        """Drag ``path`` onto the drop zone ``zone`` (a real File in a DataTransfer)."""
        picker = self.browser.execute_script(
            "const input = document.createElement('input'); input.type = 'file';"
            "input.id = 'test-picker'; document.body.append(input); return input;"
        )
        picker.send_keys(str(path))
        self.browser.execute_script(
            """const [zone, picker] = arguments;
            const transfer = new DataTransfer();
            transfer.items.add(picker.files[0]);
            for (const type of ["dragover", "drop"]) {
              zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true }));
            }
            picker.remove();""",
            self.find(zone),
            picker,
        )

    def submit(self, form: str) -> None:
        self.find(f'{form} button[type="submit"]').click()

    def click_button(self, text: str, scope: str = "main") -> None:
        """Click the button (or button-styled link) whose visible text is ``text``."""
        for button in self.find_all(f"{scope} button, {scope} a.button"):
            if button.text.strip() == text:
                button.click()
                return
        raise AssertionError(f"no button {text!r} in {scope}")

    def fetch_bytes(self, url: str) -> bytes:
        """The bytes behind ``url`` as the page sees them (a download link's blob URL)."""
        encoded = self.browser.execute_async_script(
            """const done = arguments[1];
            fetch(arguments[0]).then((r) => r.arrayBuffer()).then((buffer) => {
              let text = "";
              new Uint8Array(buffer).forEach((byte) => (text += String.fromCharCode(byte)));
              done(btoa(text));
            });""",
            url,
        )
        return base64.b64decode(encoded)

    def error_text(self) -> str:
        """The error banner's text ("" when hidden)."""
        banner = self.find("#error")
        return banner.text if banner.is_displayed() else ""

    def snap(self, name: str) -> tuple[Path, Path]:
        """Screenshots of the whole page at laptop and phone width (test artifacts)."""
        paths = []
        self.browser.execute_script("window.scrollTo(0, 0)")
        for label, (width, height) in (("laptop", LAPTOP), ("phone", PHONE)):
            self.browser.set_window_size(width, height)
            full = self.browser.execute_script("return document.documentElement.scrollHeight")
            self.browser.set_window_size(width, min(max(height, full + 120), 6000))
            path = self.screenshots / f"{name}-{label}.png"
            self.browser.save_screenshot(str(path))
            paths.append(path)
        self.browser.set_window_size(*LAPTOP)
        return paths[0], paths[1]
