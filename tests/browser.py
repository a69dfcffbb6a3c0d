"""Drive Debian's headless Chromium for the report tests, with the standard library only.

Chromium is started with ``--remote-debugging-pipe``: it reads DevTools-protocol
commands (JSON, NUL-terminated) on fd 3 and answers on fd 4, so no port is opened and no
websocket library is needed. Network access is cut three ways: host resolution maps every
name to nothing, background services are off, and each page is put offline; every
request a page makes is recorded so tests can check that only ``file:`` and ``data:`` were
touched.

``require_chromium()`` finds ``/usr/bin/chromium``; when it is missing and we are root
with apt-get, it installs Debian's ``chromium`` package (the test setup of a fresh
machine); otherwise it skips with the reason, except in CI (``CI`` set), where a missing
browser fails the run.

Also a command: ``python -m tests.browser screenshot PAGE.html OUT.png [WIDTH HEIGHT [JS]]`` (JS: an
expression evaluated before the picture, e.g. to select a passage), and ``python -m tests.browser time
PAGE.html`` (the report's size and median load time over three fresh tabs, as JSON).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """The browser did not answer as expected."""


def find_chromium() -> str | None:
    for candidate in CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def install_chromium() -> str | None:
    """Install Debian's chromium with apt-get when we can (root, apt-get present); the path or None."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    print(
        "tests/browser.py: installing Debian's chromium (apt-get update && apt-get install -y chromium)",
        file=sys.stderr,
    )
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            print(
                f"tests/browser.py: {' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}",
                file=sys.stderr,
            )
            return None
    return find_chromium()


def require_chromium() -> str:
    """The Chromium executable; install it if we can; skip (locally) or fail (in CI) without it."""
    import pytest

    path = find_chromium() or install_chromium()
    if path:
        return path
    reason = "Chromium is missing (/usr/bin/chromium) and could not be installed: apt-get install chromium"
    if os.environ.get("CI"):
        pytest.fail(reason + " — CI must run the browser tests", pytrace=False)
    pytest.skip(reason)


class Browser:
    """One Chromium process spoken to over the DevTools pipe."""

    def __init__(self, executable: str, profile: str | Path) -> None:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        # The child's ends go above fd 9 (close-on-exec) so that placing them on 3 and 4 cannot clobber each other.
        child_read, child_write = _dup_high(to_child_read), _dup_high(from_child_write)
        os.close(to_child_read)
        os.close(from_child_write)

        def place_pipes() -> None:
            os.dup2(child_read, 3)
            os.dup2(child_write, 4)

        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in close()
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            close_fds=False,  # Python's own descriptors are close-on-exec anyway (PEP 446)
            preexec_fn=place_pipes,
        )
        os.close(child_read)
        os.close(child_write)
        self._out = to_child_write
        self._in = from_child_read
        self._next_id = 0
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        waiting = self._replies.get(message["id"])
                    if waiting is not None:
                        waiting.put(message)
                else:
                    self.events.append(message)
        with self._lock:
            for waiting in self._replies.values():
                waiting.put({"error": {"message": "browser closed the pipe"}})

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        """Send one command and wait for its answer; raise ``BrowserError`` on an error reply."""
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
            waiting: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[message_id] = waiting
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        try:
            reply = waiting.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"{method}: no answer in {timeout}s") from None
        finally:
            with self._lock:
                self._replies.pop(message_id, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def new_page(self, width: int = 1400, height: int = 1000) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for method in ("Page.enable", "Runtime.enable", "Network.enable", "Log.enable"):
            self.send(method, session=session)
        self.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=session,
        )
        page.resize(width, height)
        return page

    def close(self) -> None:
        with suppress(BrowserError, OSError):
            self.send("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        for fd in (self._out, self._in):
            with suppress(OSError):
                os.close(fd)
        self._stderr.close()


def _dup_high(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


class Page:
    """One tab: navigate, evaluate, click, screenshot; ``requests`` and ``errors`` seen so far."""

    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [
            e["params"]
            for e in list(self.browser.events)
            if e.get("sessionId") == self.session and e.get("method") == method
        ]

    @property
    def requests(self) -> list[str]:
        """Every URL this page asked for (documents, scripts, images, fetches…)."""
        return [event["request"]["url"] for event in self._events("Network.requestWillBeSent")]

    @property
    def errors(self) -> list[str]:
        """Uncaught script exceptions and console errors (CSP refusals show up here)."""
        found = [
            e["exceptionDetails"].get("text", "")
            + " "
            + str(e["exceptionDetails"].get("exception", {}).get("description", ""))
            for e in self._events("Runtime.exceptionThrown")
        ]
        found += [e["entry"]["text"] for e in self._events("Log.entryAdded") if e["entry"].get("level") == "error"]
        return found

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def navigate(
        self, url: str, *, ready: str = "document.documentElement.dataset.ready === '1'", timeout: float = 120
    ) -> float:
        """Load ``url`` and wait until ``ready`` is true; the seconds it took."""
        started = time.perf_counter()
        self.send("Page.navigate", {"url": url})
        self.wait_for(ready, timeout=timeout)
        return time.perf_counter() - started

    def wait_for(self, expression: str, *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(f"Boolean({expression})"):
                    return
            except BrowserError:
                pass
            time.sleep(0.02)
        raise BrowserError(f"timed out waiting for {expression}")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited), returned by value."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression[:80]}: {reply['exceptionDetails'].get('text')}")
        return reply["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the first element matching ``selector``."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getClientRects()[0] || e.getBoundingClientRect();"
            " return {x: r.left + Math.min(r.width / 2, 20), y: r.top + r.height / 2}; })()"
        )
        if box is None:
            raise BrowserError(f"no element matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def screenshot(self, path: str | Path, *, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate(
                "({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})"
            )
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["w"], "height": size["h"], "scale": 1}
            )
        data = self.send("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def launch(executable: str | None = None, profile: str | Path | None = None) -> Iterator[Browser]:
    """A running browser for the ``with`` block (a fresh profile unless one is given)."""
    executable = executable or find_chromium()
    if executable is None:
        raise BrowserError("Chromium not found")
    with tempfile.TemporaryDirectory(prefix="dedup-chromium-") as scratch:
        browser = Browser(executable, profile or scratch)
        try:
            yield browser
        finally:
            browser.close()


def time_report(path: str | Path, runs: int = 3) -> dict[str, float]:
    """Median seconds (over ``runs`` fresh tabs) to load a report until it has drawn itself, and to open
    its last overview page's last cluster side by side; plus the page's own render time (ms since navigation)."""
    loads, opens, renders = [], [], []
    with launch() as browser:
        for _ in range(runs):
            page = browser.new_page()
            loads.append(page.navigate(Path(path).resolve().as_uri()))
            renders.append(page.evaluate("window.dedupReport.readyMs"))
            started = time.perf_counter()
            page.evaluate(
                "(() => { const rows = document.querySelectorAll('#overview tbody tr button');"
                " if (rows.length) rows[rows.length - 1].click(); return rows.length; })()"
            )
            page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
            opens.append(time.perf_counter() - started)
            page.send("Page.close")
    median = sorted(loads)[len(loads) // 2]
    return {
        "bytes": Path(path).stat().st_size,
        "load_seconds": round(median, 3),
        "render_ms_in_page": round(sorted(renders)[len(renders) // 2], 1),
        "open_cluster_seconds": round(sorted(opens)[len(opens) // 2], 3),
    }


def _main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "time":
        print(json.dumps({"page": argv[1], **time_report(argv[1])}))
        return 0
    if len(argv) < 3 or argv[0] != "screenshot":
        print(
            "usage: python -m tests.browser screenshot PAGE.html OUT.png [WIDTH HEIGHT [JS]]\n"
            "       python -m tests.browser time PAGE.html",
            file=sys.stderr,
        )
        return 2
    width, height = (int(argv[3]), int(argv[4])) if len(argv) >= 5 else (1400, 1000)
    with launch() as browser:
        page = browser.new_page(width, height)
        page.navigate(Path(argv[1]).resolve().as_uri())
        if len(argv) >= 6:
            page.evaluate(argv[5])  # e.g. select a passage before the picture
            time.sleep(1.2)  # let the flash animation end
        page.screenshot(argv[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
