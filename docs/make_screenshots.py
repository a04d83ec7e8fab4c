"""Screenshots of the playground with the shipped checkpoint and the real SmolLM2 (HF engine, in-process cache):
docs/playground-desktop.png and docs/playground-phone.png. Needs Chromium (scripts/ensure_chromium.sh) and the
assets (`t2l assets prepare`). Run from the repository root:

    python docs/make_screenshots.py [--checkpoint checkpoints/t2l-smollm2-135m-sft-L-long] [--example 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.app import create_app  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.server.cdp import Browser, find_chromium  # noqa: E402
from tests.server.conftest import LiveServer, free_port  # noqa: E402


def shoot(browser: Browser, url: str, example: int, path: Path, width: int, height: int, mobile: bool) -> None:
    browser.viewport(width, height, mobile=mobile, scale=2 if mobile else 1)
    browser.goto(url + "/playground")
    browser.wait_for("document.body.dataset.ready === 'true'")
    browser.evaluate(f"document.querySelectorAll('button.example')[{example}].click()")
    browser.focus("#run")
    browser.press("Enter")
    browser.wait_for("['Done.'].includes(document.querySelector('#status').textContent) || "
                     "document.querySelector('#status').classList.contains('error')", 300)
    status = browser.evaluate("document.querySelector('#status').textContent")
    if status != "Done.":
        raise SystemExit(f"the page says: {status}")
    browser.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    browser.screenshot(path)
    print(path, browser.evaluate("[document.querySelector('#adapted-answer').textContent, "
                                 "document.querySelector('#base-answer').textContent]"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "t2l-smollm2-135m-sft-L-long"))
    parser.add_argument("--example", type=int, default=0, help="which example button to press")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium: run scripts/ensure_chromium.sh")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(checkpoint=Path(args.checkpoint), engine="hf", auth="off", redis_url=None,
                            adapters_dir=Path(tmp) / "adapters", _env_file=None)
        server = LiveServer(create_app(settings), free_port()).start(timeout=600)
        try:
            out = Path(args.out)
            with Browser(chromium, timeout=60) as browser:
                shoot(browser, server.url, args.example, out / "playground-desktop.png", 1280, 900, False)
                shoot(browser, server.url, args.example, out / "playground-phone.png", 390, 844, True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
