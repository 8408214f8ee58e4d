"""The drawing pad with a finger and with a pen: Chromium's own input
pipeline (the DevTools protocol's Input domain) produces the pointer events a
touch screen or a stylus would, and the drawing ends up in the appearance of
the signed PDF, which pdfsig accepts."""

import json
import time
from io import BytesIO
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pyhanko.pdf_utils.reader import PdfFileReader

from practices.models import Revision
from tests.e2e.conftest import SCREENSHOTS, WIDTHS
from tests.e2e.test_signer import boss_in_english, create, english, first  # noqa: F401
from tests.practices.conftest import signature_request
from tests.signing.test_pades_pdfsig import assert_all_valid_and_trusted, nssdb, pdfsig  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("boss_in_english")]

STROKE = [(20, 120), (50, 40), (80, 130), (120, 45), (160, 115), (200, 60), (240, 120)]
UNDERLINE = [(30, 145), (230, 140)]

# Every pointer event the pad receives, by kind, so a test knows which input it met.
RECORD_POINTERS = """
(canvas) => {
  window.pointerTypes = [];
  canvas.addEventListener('pointerdown', (e) => window.pointerTypes.push(e.pointerType));
  canvas.addEventListener('pointermove', (e) => {
    if (e.buttons) window.pointerTypes.push(e.pointerType);
  });
}
"""


PAD_PNG = "document.querySelector('[data-pad]').toDataURL()"
BLANK_PNG = """(() => {
  const pad = document.querySelector('[data-pad]');
  const blank = document.createElement('canvas');
  blank.width = pad.width;
  blank.height = pad.height;
  return blank.toDataURL();
})()"""


@pytest.fixture
def touch_page(browser, live_server):
    """A phone: a 360 px touch screen."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": original["height"]})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size(original)


def open_pad(page, signing) -> tuple[dict, object]:
    dst = create(
        signing,
        [[signature_request(signer=english(), provider_options={"unlock_mode": "grapho"})]],
    )
    page.goto(first(dst)["signature_ticket"])
    pad = page.get_by_role("img", name="Draw your signature")
    pad.scroll_into_view_if_needed()
    expect(pad).to_be_visible()
    pad.evaluate(RECORD_POINTERS)
    return dst, pad


def touch_stroke(cdp, box, points) -> None:
    def at(x, y):
        return [{"x": box["x"] + x, "y": box["y"] + y, "radiusX": 2, "radiusY": 2, "force": 0.6}]

    x, y = points[0]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(x, y)})
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, 5):
            x = x0 + (x1 - x0) * step / 4
            y = y0 + (y1 - y0) * step / 4
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": at(x, y)})
    # The finger rests before it lifts, as a hand does: lifted at speed, the
    # stroke would start a fling, and Chromium swallows the tap that stops one.
    for _ in range(3):
        time.sleep(0.06)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": at(x, y)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def pen_stroke(cdp, box, points) -> None:
    def event(kind, x, y, **extra):
        cdp.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": box["x"] + x,
                "y": box["y"] + y,
                "pointerType": "pen",
                "force": 0.5,
                "tiltX": 15,
                "tiltY": -10,
                **extra,
            },
        )

    x, y = points[0]
    event("mouseMoved", x, y)
    event("mousePressed", x, y, button="left", buttons=1, clickCount=1)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, 5):
            event(
                "mouseMoved",
                x0 + (x1 - x0) * step / 4,
                y0 + (y1 - y0) * step / 4,
                button="left",
                buttons=1,
            )
    x, y = points[-1]
    event("mouseReleased", x, y, button="left", buttons=0, clickCount=1)


def appearance_ink(data: bytes) -> int:
    """How many pixels of the signature appearance's image are drawn (opaque):
    the pad's PNG is transparent where nothing was drawn."""
    reader = PdfFileReader(BytesIO(data))
    (signature,) = reader.embedded_regular_signatures
    field = signature.sig_field
    appearance = field.get("/AP") or next(k["/AP"] for k in field["/Kids"] if k.get("/AP"))
    found = []

    def walk(stream, depth=0):
        xobjects = (stream.get("/Resources") or {}).get("/XObject") or {}
        for key in xobjects:
            xobject = xobjects[key]
            if xobject.get("/Subtype") == "/Image":
                found.append(xobject)
            elif depth < 5:
                walk(xobject, depth + 1)

    walk(appearance["/N"])
    assert found, "no image in the signature's appearance"
    (image,) = found
    alpha = image["/SMask"].data
    return sum(1 for value in alpha if value > 32)


def sign_and_check(page, dst, nss, tmp_path) -> bytes:
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you, the document is signed")).to_be_visible()
    revision = Revision.objects.filter(document_id=dst["documents"][0]["id"]).latest("number")
    data = revision.file.open("rb").read()
    path = Path(tmp_path) / "signed.pdf"
    path.write_bytes(data)
    assert_all_valid_and_trusted(pdfsig(nss, path), ["Bruno Boss"])
    return data


def test_grapho_drawn_with_a_finger(touch_page, signing, nssdb, tmp_path):  # noqa: F811
    page = touch_page
    dst, pad = open_pad(page, signing)
    assert page.evaluate("navigator.maxTouchPoints") > 0
    cdp = page.context.new_cdp_session(page)
    box = pad.bounding_box()
    assert box["width"] <= 360

    touch_stroke(cdp, box, STROKE)
    touch_stroke(cdp, box, UNDERLINE)
    # The page did not scroll or zoom under the finger: the pad keeps touches.
    assert pad.bounding_box()["y"] == box["y"]
    pointer_types = set(page.evaluate("window.pointerTypes"))
    assert pointer_types == {"touch"}, pointer_types
    drawn = page.evaluate(PAD_PNG)
    # Undo, tapped, takes back the underline only; the drawing stays.
    page.get_by_role("button", name="Undo").tap()
    # The click follows the tap asynchronously.
    page.wait_for_function(f"{PAD_PNG} !== {json.dumps(drawn)}")
    undone = page.evaluate(PAD_PNG)
    assert undone != drawn and page.evaluate(BLANK_PNG) != undone
    shoot(page, "signer-15-grapho-touch")

    data = sign_and_check(page, dst, nssdb, tmp_path)
    assert appearance_ink(data) > 100
    assert not page.js_errors


def test_grapho_drawn_with_a_pen(page, screenshot, signing, nssdb, tmp_path):  # noqa: F811
    dst, pad = open_pad(page, signing)
    cdp = page.context.new_cdp_session(page)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Draw your signature first.")
    box = pad.bounding_box()

    pen_stroke(cdp, box, STROKE)

    pointer_types = set(page.evaluate("window.pointerTypes"))
    assert pointer_types == {"pen"}, pointer_types
    expect(page.get_by_role("alert")).to_be_hidden()  # drawing clears the error
    screenshot("signer-16-grapho-pen")

    data = sign_and_check(page, dst, nssdb, tmp_path)
    assert appearance_ink(data) > 100
    assert not page.js_errors
