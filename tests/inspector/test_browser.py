"""The inspector page in a real browser: Debian's chromium, headless, driven
by python3-selenium through chromium-driver, against nodes of their own."""
import shutil
import tempfile
import time
import urllib.parse

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import TIMEOUT, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="hive-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # As root in a sandbox with no network but loopback: no sandbox, and
    # nothing that reaches for Google's hosts.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1440,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def until(driver, what, check):
    """Waits for check(driver) to be true (the page redraws once a second)."""
    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.1).until(check, message=what)


# The page redraws once a second, replacing its rows: what a test reads of
# it, it reads in one script, as one snapshot.
TABLE = """return [...document.querySelectorAll('#actors tbody tr')].map(
  tr => [tr.dataset.pid, tr.cells[1].textContent, tr.cells[4].textContent])"""
TREE = """return Object.fromEntries([...document.querySelectorAll('#tree li[data-id]:not([data-id=""])')].map(li => [
  li.dataset.id, {pid: li.dataset.pid, recent: li.classList.contains('recent'),
    restarts: li.querySelector('.restarts').textContent,
    parent: li.parentElement.closest('li') ? li.parentElement.closest('li').textContent : null}]))"""


def table(driver):
    """The actors table as the page shows it: [(pid, name, mailbox)], in order."""
    return [(pid, name, int(mailbox.replace(",", ""))) for pid, name, mailbox in driver.execute_script(TABLE)]


def tree(driver):
    """The tree as the page shows it: {child id: {pid, recent, restarts, parent}}."""
    return driver.execute_script(TREE)


def click(driver, selector):
    """Clicks what selector finds, again if a redraw replaced it meanwhile."""
    def clicked(d):
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False
    until(driver, f"a click on {selector}", clicked)


def click_until(driver, selector, what, check):
    """Clicks what selector finds until check holds. A redraw between finding
    an element and the click landing can move another row under the pointer
    (a mailbox of 0 or 1 reorders the table), so one click is not enough."""
    def done(d):
        if check(d):
            return True
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
        except StaleElementReferenceException:
            return False
        return check(d)
    until(driver, what, done)


def console_errors(driver, allowed=()):
    """The browser's errors: every one from a script, and those of the network
    but the answers the test caused (a string of each message in allowed)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not (e["source"] == "network" and any(a in e["message"] for a in allowed))]


def test_the_page_shows_the_service_and_kills_through_its_supervisor(service, browser, artifacts):
    browser.get(service.url)
    until(browser, "the four actors", lambda d: len(table(d)) == 4)

    # The actors and their mailboxes, as /api/actors has them. The consumer's
    # moves all the time (work comes every 1 ms and takes 1.5 ms; under load
    # it may also shrink), and the page drew it up to a poll (1 s) ago: it
    # must be a value the API gave in the last two seconds, within what
    # moves between two samples 50 ms apart. The others' stay near 0 (a tick
    # may wait a moment): the page must show what the API says in one same
    # moment, which a redraw soon gives. flaky gets a new pid every second:
    # it is matched by name.
    samples = []
    for _ in range(40):
        samples.append({a["name"]: a for a in service.api("/api/actors")[0]})
        time.sleep(0.05)
    shown = table(browser)
    samples.append({a["name"]: a for a in service.api("/api/actors")[0]})
    assert sorted(name for _, name, _ in shown) == ["app", "consumer", "flaky", "producer"]
    for pid, name, mailbox in shown:
        assert pid in {s[name]["pid"] for s in samples} or name == "flaky", (name, pid)
        if name == "consumer":
            seen = [s[name]["mailbox_len"] for s in samples]
            assert min(seen) - 100 <= mailbox <= max(seen) + 100, (mailbox, seen)
            assert mailbox > 0

    def quiet_ones_match(d):
        api = {a["name"]: a["mailbox_len"] for a in service.api("/api/actors")[0]}
        page = {name: mailbox for _, name, mailbox in table(d)}
        return all(page[n] == api[n] for n in ("app", "producer", "flaky"))
    until(browser, "app, producer and flaky's mailboxes as /api/actors has them", quiet_ones_match)

    # Sorting: by pid first, then by mailbox: the backed-up consumer first.
    click(browser, '#actors th[data-sort="pid"]')
    until(browser, "the table sorted by pid", lambda d: table(d)[0][1] == "app")
    click(browser, '#actors th[data-sort="mailbox_len"]')
    until(browser, "the consumer first", lambda d: table(d)[0][1] == "consumer")

    # The tree: app over its three children.
    until(browser, "the tree", lambda d: {"producer", "consumer", "flaky"} <= tree(d).keys())
    for child, item in tree(browser).items():
        assert item["parent"].startswith("▾app"), (child, item)
    click(browser, "#tree > ul > li > .toggle")  # fold app, then unfold it
    until(browser, "app folded", lambda d: tree(d) == {})
    click(browser, "#tree > ul > li > .toggle")
    until(browser, "app unfolded", lambda d: {"producer", "consumer", "flaky"} <= tree(d).keys())

    # Kill the producer through the page: its supervisor restarts it, and
    # the page shows the new pid and one restart, highlighted.
    old = next(pid for pid, name, _ in table(browser) if name == "producer")
    assert tree(browser)["producer"]["pid"] == old
    click_until(browser, f'#actors tr[data-pid="{old}"]', "the producer's panel",
                lambda d: old in d.find_element(By.ID, "detail-title").text)
    until(browser, "the producer's statistics", lambda d: d.execute_script(
        "return document.querySelector('#detail-stats tr[data-key=behaviour]').textContent") == "behaviourproducer")
    until(browser, "the producer's mailbox chart", lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-actor polyline"))
    click(browser, "#kill")
    until(browser, "the confirmation", lambda d: d.find_element(By.ID, "confirm").get_attribute("open"))
    click(browser, "#confirm-kill")
    until(browser, "the kill's result",
          lambda d: d.find_element(By.ID, "kill-result").text == f"killed {old}")
    new = wait_for("a new producer", lambda: next(
        (a["pid"] for a in service.api("/api/actors")[0] if a["name"] == "producer" and a["pid"] != old), None))
    until(browser, "the new pid in the tree", lambda d: tree(d)["producer"]["pid"] == new)
    item = tree(browser)["producer"]
    assert item["restarts"] == "↻ 1" and item["recent"], item
    until(browser, "the new pid in the table", lambda d: any(pid == new for pid, _, _ in table(d)))

    click(browser, "#detail-close")
    browser.save_screenshot(str(artifacts / "inspector.png"))
    # The panel asked once more for the producer it killed: 404, and then no more.
    killed = "/api/actors/" + urllib.parse.quote(old, safe="") + " - Failed to load resource: " \
        "the server responded with a status of 404"
    assert console_errors(browser, allowed=[killed]) == []

    # The node stops: the page says so plainly.
    service.stop()
    until(browser, "the stopped banner", lambda d: d.find_element(By.ID, "stopped").is_displayed())
    assert browser.find_element(By.ID, "status").text == "stopped"
    assert "not answering" in browser.find_element(By.ID, "stopped").text
    browser.save_screenshot(str(artifacts / "inspector-stopped.png"))
    # The polls that found no one are all the errors.
    assert console_errors(browser, allowed=["ERR_CONNECTION_REFUSED"]) == []


def test_a_node_of_100_000_actors_is_paged(make_http_node, browser):
    node = make_http_node("--idle", 100000, "--backlog", 10)
    browser.get(node.url)
    until(browser, "the first page", lambda d: len(table(d)) == 50)
    assert table(browser)[0][1] == "backlog"  # the longest mailbox first
    assert browser.find_element(By.ID, "page").text == "1–50 of 100,001"
    first_page = [pid for pid, _, _ in table(browser)]
    click(browser, "#next")
    until(browser, "the second page", lambda d: d.find_element(By.ID, "page").text == "51–100 of 100,001")
    assert not set(first_page) & {pid for pid, _, _ in table(browser)}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#actors tbody tr")) == 50
    # A filter reaches past the page: the one actor named backlog.
    browser.find_element(By.ID, "filter").send_keys("backlog")
    until(browser, "the filtered table", lambda d: [n for _, n, _ in table(d)] == ["backlog"])
    assert table(browser)[0][2] == 10
    assert console_errors(browser) == []
