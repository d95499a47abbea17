"""The playground in a real browser: Debian's headless Chromium, driven by selenium through the
system's chromedriver (an explicit path: selenium never downloads a driver).

The page loads, training starts and its loss falls, the σ slider redraws the field, sampling
animates particles, and bad input (an empty drawing, absurd settings) shows a message in the
page while the server goes on answering. A screenshot of each state goes to a temporary folder,
or to $PLAYGROUND_SCREENSHOTS (``make playground-test`` writes runs/playground-test/).
Skipped, with the reason, where chromium or chromedriver is missing.
"""
import json
import os
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


@pytest.fixture
def server():
    pytest.importorskip("bottle", reason="the playground needs the playground extra (bottle)")
    from scorelab.playground.server import make_server_on

    srv = make_server_on(0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1600,1000", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 30.0, what: str = "the page"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def set_value(driver, element_id: str, value) -> None:
    driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change'));",
                          element_id, str(value))


def message(driver) -> tuple[str, bool]:
    box = driver.find_element("id", "message")
    return box.text, "error" in (box.get_attribute("class") or "")


def test_train_field_sample_and_bad_input_in_headless_chromium(server, browser, tmp_path):
    shots = Path(os.environ.get("PLAYGROUND_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    d = browser
    d.get(server + "/")
    wait_for(lambda: d.execute_script("return document.getElementById('toy').options.length") > 3, 15, "the toys")
    assert d.title == "scorelab playground"
    d.save_screenshot(str(shots / "1_loaded.png"))

    # Training: the loss curve grows while it trains, and falls.
    set_value(d, "steps", 600)
    d.find_element("id", "train").click()
    wait_for(lambda: d.execute_script("return document.body.dataset.training") == "done", 40, "training")
    loss = d.find_element("id", "loss-canvas")
    assert int(loss.get_attribute("data-points")) >= 10
    assert float(loss.get_attribute("data-last")) < float(loss.get_attribute("data-first"))
    d.save_screenshot(str(shots / "2_trained.png"))

    # The σ slider redraws both fields at the new σ.
    learned = d.find_element("id", "learned-canvas")
    wait_for(lambda: learned.get_attribute("data-sigma"), 10, "the learned field")
    before = (learned.get_attribute("data-sigma"), d.execute_script("return arguments[0].toDataURL()", learned))
    set_value(d, "sigma-slider", 700)
    wait_for(lambda: learned.get_attribute("data-sigma") != before[0], 10, "the field at the new σ")
    assert d.execute_script("return arguments[0].toDataURL()", learned) != before[1]
    assert float(learned.get_attribute("data-sigma")) > float(before[0])
    d.save_screenshot(str(shots / "3_sigma.png"))

    # Sampling draws the particles of all three samplers, with the mode fractions.
    for field, value in (("n", 300), ("langevin-steps", 300), ("steps-per-level", 30)):
        set_value(d, field, value)
    d.find_element("id", "sample").click()
    wait_for(lambda: d.execute_script("return document.body.dataset.sampled") == "1", 40, "the samples")
    for name in ("langevin", "annealed", "heun"):
        assert int(d.find_element("id", f"s-{name}").get_attribute("data-frame")) > 0
        assert d.find_element("id", f"f-{name}").text.startswith("modes: ")
    d.save_screenshot(str(shots / "4_sampled.png"))

    # Bad input: a message in the page, and the server still answers.
    d.find_element("id", "draw").click()
    d.find_element("id", "use-drawing").click()
    text, is_error = wait_for(lambda: message(d) if "at least" in message(d)[0] else None, 10, "the message")
    assert is_error and "draw at least" in text
    d.save_screenshot(str(shots / "5_empty_drawing.png"))
    set_value(d, "steps", -5)
    d.find_element("id", "train").click()
    text, is_error = wait_for(lambda: message(d) if "steps must" in message(d)[0] else None, 10, "the message")
    assert is_error and "between" in text
    d.save_screenshot(str(shots / "6_absurd_steps.png"))

    # Drawing: a drag on the data panel sprays points, which become the data.
    from selenium.webdriver.common.action_chains import ActionChains

    d.find_element("id", "draw").click()
    canvas = d.find_element("id", "data-canvas")
    drag = ActionChains(d).move_to_element_with_offset(canvas, -80, -60).click_and_hold()
    for k in range(12):
        drag = drag.move_by_offset(12, 8 + (k % 3))
    drag.release().perform()
    d.find_element("id", "use-drawing").click()
    wait_for(lambda: "your points" in message(d)[0], 10, "the drawing to be accepted")
    assert d.find_element("id", "data-info").text.startswith("drawn, ")
    d.save_screenshot(str(shots / "7_drawn.png"))

    # A failure-mode preset sets data, objective and sampling up in one click.
    d.find_element("id", "preset-mixture_weights").click()
    wait_for(lambda: "preset loaded" in message(d)[0], 10, "the preset")
    assert d.find_element("id", "objective").get_attribute("value") == "ncsn"
    assert d.find_element("id", "starts").get_attribute("value") == "box"
    assert "50/50" in d.find_element("id", "preset-text").text
    with urllib.request.urlopen(server + "/api/options") as reply:
        assert reply.status == 200 and "toys" in json.loads(reply.read())
