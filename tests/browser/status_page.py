"""Drives `hbk plan serve` in a real headless Chromium (Debian's chromium
and chromium-driver, through selenium): the dashboard's lights, the
history plot's points, and a file downloaded through the snapshot browser
whose SHA-256 must match. Screenshots go to the given directory; any
severe browser console message fails the test.

Usage: status_page.py BASE_URL SHOTS_DIR DOWNLOAD_DIR EXPECT_JSON
EXPECT_JSON: {"repositories": n, "red": [names], "runs": n,
              "repo": name, "dirs": [names], "file": name, "sha256": hex}
"""

import hashlib
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    base, shots, downloads, expect = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    os.makedirs(shots, exist_ok=True)
    os.makedirs(downloads, exist_ok=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.add_experimental_option(
        "prefs", {"download.default_directory": downloads, "download.prompt_for_download": False}
    )
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    # A click starts a navigation; finding the next page's elements waits
    # for them (up to 20 s on a busy machine).
    d.implicitly_wait(20)
    try:
        d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        d.get(base + "/")
        rows = d.find_elements(By.CSS_SELECTOR, "tr.repo")
        lights = {r.get_attribute("data-repository"): r.get_attribute("class").split() for r in rows}
        d.save_screenshot(os.path.join(shots, "dashboard.png"))
        if len(rows) != expect["repositories"]:
            fail(f"{len(rows)} repositories shown, want {expect['repositories']}: {lights}")
        red = sorted(n for n, c in lights.items() if "red" in c)
        if red != sorted(expect["red"]):
            fail(f"red: {red}, want {expect['red']} ({lights})")

        d.get(base + "/history")
        d.save_screenshot(os.path.join(shots, "history.png"))
        points = d.find_elements(By.CSS_SELECTOR, "#duration circle.point")
        if len(points) != expect["runs"]:
            fail(f"{len(points)} points in the run-duration plot, want {expect['runs']}")

        d.get(base + "/snapshots?repo=" + expect["repo"])
        # The snapshot of the source holding the file: snapshots of the
        # plan's sources can be listed in either order.
        rows = d.find_elements(By.CSS_SELECTOR, "#snapshots tr")
        ours = [r for r in rows if r.find_elements(By.TAG_NAME, "td")
                and r.find_elements(By.TAG_NAME, "td")[4].text == expect["source"]]
        if not ours:
            fail(f"no snapshot of {expect['source']} listed")
        ours[0].find_element(By.CSS_SELECTOR, "a.snapshot").click()
        for part in expect["dirs"]:
            d.find_element(By.LINK_TEXT, part + "/").click()
        d.save_screenshot(os.path.join(shots, "browse.png"))
        d.find_element(By.LINK_TEXT, expect["file"]).click()
        target = os.path.join(downloads, expect["file"])
        deadline = time.time() + 30
        while not os.path.exists(target) or any(f.endswith(".crdownload") for f in os.listdir(downloads)):
            if time.time() > deadline:
                fail(f"no download of {expect['file']} in {downloads}: {os.listdir(downloads)}")
            time.sleep(0.1)
        with open(target, "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        if got != expect["sha256"]:
            fail(f"downloaded {expect['file']} hashes to {got}, want {expect['sha256']}")

        severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
        if severe:
            fail(f"console errors: {severe}")
        print(json.dumps({"ok": True, "lights": lights, "points": len(points)}))
    finally:
        d.quit()


if __name__ == "__main__":
    main()
