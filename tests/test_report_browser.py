"""The HTML report in a real browser: headless Chromium driven by Selenium.

Opens a report from ``file://`` (no server), as a user would: no console
errors, every audio player loads its excerpt and reports a duration, the
index sorts on a header click, and a screenshot shows a rendered page.
Chromium and its driver are the Debian packages ``chromium`` and
``chromium-driver`` that ``make system-deps`` installs; without them these
tests fail (they are never skipped).
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _report_fixtures import SR, make_report_inputs  # tests/ is on sys.path

from sklearn_audioconcepts.report import write_report

CLIP_SECONDS = 1.0


def _chromium():
    """Paths of chromium and chromedriver, or a failure that says what to do."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "The browser tests need headless Chromium and its driver (Debian "
            "packages chromium and chromium-driver): run `make system-deps`."
        )
    return browser, driver


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    X, waves, language, sae = make_report_inputs()
    output = tmp_path_factory.mktemp("browser") / "report"
    write_report(
        sae,
        waves,
        output,
        X=X,
        sample_rate=SR,
        labels={"language": language},
        clip_seconds=CLIP_SECONDS,
        progress=False,
    )
    return output


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = _chromium()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(
            "The browser tests need selenium: pip install -e '.[test]'.",
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given, so selenium-manager never downloads one.
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _open(driver, path):
    driver.get(Path(path).as_uri())
    errors = [
        entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
    ]
    assert errors == [], errors


def _column(driver, table_id, column):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + "
        "' tbody tr')).map(r => parseFloat(r.cells[arguments[1]].dataset.value));",
        table_id,
        column,
    )


def test_browser_index_sorts(browser, report):
    from selenium.webdriver.common.by import By

    _open(browser, report / "index.html")
    frequencies = _column(browser, "units", 1)
    assert frequencies == sorted(frequencies, reverse=True)
    header = browser.find_elements(By.CSS_SELECTOR, "#units thead th")[2]
    assert header.text.startswith("Max activation")
    header.click()  # numbers: largest first
    maxima = _column(browser, "units", 2)
    assert maxima == sorted(maxima, reverse=True) and maxima != frequencies
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    assert _column(browser, "units", 2) == sorted(maxima)
    assert header.get_attribute("aria-sort") == "ascending"
    latent = browser.find_elements(By.CSS_SELECTOR, "#units thead th")[0]
    latent.click()
    assert _column(browser, "units", 0) == sorted(_column(browser, "units", 0))[::-1]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_browser_clips_sort_by_name_with_numbers_in_order(browser, report):
    from selenium.webdriver.common.by import By

    _open(browser, report / "clips.html")
    browser.find_elements(By.CSS_SELECTOR, "#clips thead th")[0].click()
    names = browser.execute_script(
        "return Array.from(document.querySelectorAll('#clips tbody tr')).map("
        "r => r.cells[0].textContent);"
    )
    assert names[:3] == ["clip-0", "clip-1", "clip-2"] and names[10] == "clip-10"


def test_browser_latent_page_plays_audio(browser, report):
    from selenium.webdriver.support.ui import WebDriverWait

    index = report / "index.html"
    _open(browser, index)
    # Follow the first latent link, as a reader would.
    href = browser.execute_script(
        "return document.querySelector('#units tbody a').getAttribute('href');"
    )
    _open(browser, report / href)
    count = browser.execute_script("return document.querySelectorAll('audio').length;")
    assert count >= 1

    def loaded(driver):
        states = driver.execute_script(
            "return Array.from(document.querySelectorAll('audio')).map("
            "a => [a.readyState, a.duration, a.error && a.error.code]);"
        )
        return states if all(s[0] >= 1 for s in states) else False

    states = WebDriverWait(browser, 15).until(loaded)
    assert all(error is None for _, _, error in states), states
    durations = np.array([duration for _, duration, _ in states])
    np.testing.assert_allclose(durations, CLIP_SECONDS, atol=0.1)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_browser_screenshot_is_not_blank(browser, report, tmp_path):
    from PIL import Image

    _open(browser, report / "units" / "latent-00000.html")
    path = tmp_path / "latent.png"
    assert browser.save_screenshot(str(path))
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    # A rendered page: text and bars on a white background, not one colour.
    assert pixels.std() > 10
    assert 0.01 < (pixels < 128).mean() < 0.5
