"""Check BaluPi in a real browser and take the screenshots in docs/screenshots/.

Drives Debian's Chromium (``/usr/bin/chromium``, headless) with Playwright against the
Home Assistant that ``scripts/develop`` runs on http://127.0.0.1:8123, as a person would:

1. signs in through Home Assistant's own login page (``dev`` / ``balupi-dev``);
2. Settings -> Devices & services -> BaluPi: the integration page (``integration.png``);
3. the "BaluHost NAS" and "BaluPi" device pages (``device-nas.png``,
   ``device-balupi.png``): every BaluPi entity that develop's setup creates must be
   listed by name, and the key ones must have a state;
4. Devices & services -> Add integration -> BaluPi: the config flow's first form
   (``config-flow.png``), with every field of the ``user`` step;
5. the Energy dashboard's configuration (``/config/energy``): "Add device" must offer
   every plug's "Energy today" sensor (``energy-config.png``).

It fails (exit 1, one line per problem) on any JavaScript error on the page (console
messages of type "error", uncaught exceptions), on an open error toast, on a missing
entity and when a page does not show what it should. The names it looks for come from
the integration's own ``translations/en.json``. One kind of console error is ignored,
and counted: a resource on another host that cannot load, because the network here is
closed (brand icons from brands.home-assistant.io); the browser is kept from sending
anything off the machine at all.

Only a run that passed writes docs/screenshots/; a failed run leaves it as it was and
saves what its pages showed in config/browser-check-failures/.

Run it through ``scripts/screenshots``, which starts ``scripts/develop`` when needed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Error as PlaywrightError,
    Locator,
    Page,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "custom_components" / "balupi" / "translations" / "en.json"
CHROMIUM = "/usr/bin/chromium"
# The network here is closed: without these, Chromium keeps trying to reach Google's
# services (and is refused); a fresh profile comes from launch_persistent_context.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
MAX_PNG_BYTES = 300 * 1024
LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}

# The entities develop's setup gives each device, by translation key
# (translations/en.json: entity.<platform>.<key>.name).
NAS_ENTITIES = {
    "sensor": [
        "nas_state",
        "nas_state_since",
        "nas_power_state",  # develop marks a plug as the NAS's
        "last_snapshot",
        "storage_used",
        "array_state",
        "failing_disks",
    ],
    "binary_sensor": ["reachable"],
    "button": ["wake"],
}
HUB_ENTITIES = {
    "sensor": [
        "dns_target",  # develop configures the Pi-hole simulator
        "total_power",  # develop adds Tapo plugs
        "energy_cost_today",
        "energy_cost_month",
        "energy_cost_month_estimate",
    ],
}
# With sshd on the machine, develop configures the inbox too (scripts/develop).
INBOX_ENTITIES = {"sensor": ["inbox_files", "inbox_size"]}
# These must have a state (not unavailable or unknown) once develop has set up:
# the NAS simulator answers, the Pi-hole holds the record, the plugs report. The
# snapshot sensors stay unavailable until the NAS has sent a shutdown snapshot.
NAS_KNOWN = ["nas_state", "reachable", "nas_power_state"]
HUB_KNOWN = ["dns_target", "total_power", "inbox_files"]

# JavaScript run in the page: the frontend's own registry and states (``hass``).
JS_HASS_READY = """() => {
  const hass = document.querySelector('home-assistant')?.hass;
  return Boolean(hass && hass.user && hass.connected && hass.entities && hass.devices
    && Object.values(hass.entities).some((e) => e.platform === 'balupi'));
}"""
JS_BALUPI = """() => {
  const hass = document.querySelector('home-assistant').hass;
  const devices = {};
  for (const entity of Object.values(hass.entities)) {
    if (entity.platform !== 'balupi' || !entity.device_id) continue;
    const device = hass.devices[entity.device_id];
    const name = device.name_by_user || device.name;
    devices[name] ??= {id: device.id, entities: []};
    const state = hass.states[entity.entity_id];
    devices[name].entities.push({
      entity_id: entity.entity_id,
      translation_key: entity.translation_key ?? null,
      state: state ? state.state : null,
    });
  }
  return devices;
}"""
JS_STATE_TRANSLATED = """([entityId, translations]) => {
  const hass = document.querySelector('home-assistant').hass;
  const state = hass.states[entityId];
  return Boolean(state && hass.formatEntityState
    && hass.formatEntityState(state) === translations[state.state]);
}"""
# Home Assistant's own navigate(): push the path, tell the app.
JS_NAVIGATE = """(path) => {
  history.pushState(null, '', path);
  window.dispatchEvent(new CustomEvent('location-changed', {detail: {replace: false}}));
}"""
# The text of an element and everything in it, shadow roots included.
JS_DEEP_TEXT = """(element) => {
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent.trim());
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(element);
  return parts.filter(Boolean).join(' ');
}"""
JS_OPEN_TOASTS = """(toast) => {
  const open = toast.open === true || toast.hasAttribute('open');
  return open ? (toast.labelText || toast.textContent || '').trim() || '(no text)' : null;
}"""


class CheckError(Exception):
    """A page did not show what it should."""


def is_external(url: str) -> bool:
    """Whether ``url`` leaves this machine (http(s)/ws(s) to a non-loopback host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return False  # data:, blob:, about: ...
    host = (parts.hostname or "").lower()
    return not (host in LOOPBACK_HOSTS or host.startswith("127."))


def sshd_installed() -> bool:
    """Whether scripts/develop finds sshd, and so configures BaluPi's inbox."""
    path = os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"]
    )
    return shutil.which("sshd", path=path) is not None


@dataclass
class Watcher:
    """Collects JavaScript errors from the page, each with the step it happened in."""

    step: str = "start"
    errors: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        """Count console errors; ignore failed loads of off-machine resources."""
        if message.type != "error":
            return
        url = message.location.get("url", "")
        # The network is closed: resources on other hosts (the integration and
        # brand icons from brands.home-assistant.io, mostly) cannot load here, and
        # the browser logs each as "Failed to load resource". That is the
        # machine, not BaluPi or the frontend, so these are counted, not failed.
        if message.text.startswith("Failed to load resource") and is_external(url):
            self.ignored.append(url)
            return
        where = f" ({url})" if url else ""
        self.errors.append(f"{self.step}: console error: {message.text}{where}")

    def on_page_error(self, error: PlaywrightError) -> None:
        """An uncaught exception in the page always fails the check."""
        stack = (error.stack or "").strip().splitlines()
        where = f" ({stack[1].strip()})" if len(stack) > 1 else ""
        self.errors.append(f"{self.step}: uncaught error: {error.message}{where}")
        self.stacks.append(error.stack or error.message)


@dataclass
class Check:
    """One run through the pages."""

    page: Page
    base: str
    staging: Path
    """Where the screenshots go first: docs/ gets them only if everything passed."""
    failures_dir: Path
    names: dict[str, dict[str, Any]]
    timeout_ms: float
    watcher: Watcher
    problems: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    # -- helpers -------------------------------------------------------------------

    def name(self, platform: str, key: str) -> str:
        """The entity name that translations/en.json gives ``platform``/``key``."""
        return str(self.names[platform][key])

    @contextmanager
    def step(self, title: str, shot: str | None = None) -> Iterator[None]:
        """Run one step; a failure is recorded (with a screenshot) and the run goes on.

        ``shot`` names the screenshot the step takes; on failure, what the page
        showed is saved under that name (it ends up in ``failures_dir``).
        """
        self.watcher.step = title
        started = time.monotonic()
        try:
            yield
        except (CheckError, AssertionError, PlaywrightError) as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            self.problems.append(f"{title}: {message or type(err).__name__}")
            name = shot or f"{title.replace(' ', '-')}.png"
            try:
                self.page.screenshot(path=self.staging / name)
                self.problems.append(
                    f"{title}: the page as it was: {self.failures_dir / name}"
                )
            except PlaywrightError:
                pass
        finally:
            self.timings.append((title, time.monotonic() - started))

    def visible(self, locator: Locator, what: str) -> None:
        """Wait until ``locator`` is visible; else fail naming ``what``."""
        try:
            expect(locator.first).to_be_visible(timeout=self.timeout_ms)
        except AssertionError as err:
            raise CheckError(f"not shown: {what}") from err

    def settle(self) -> None:
        """Wait for the fonts and two animation frames, so the picture is complete."""
        self.page.evaluate(
            """() => document.fonts.ready.then(() => new Promise((done) =>
                requestAnimationFrame(() => requestAnimationFrame(() => done(true)))))"""
        )

    def screenshot(self, file_name: str) -> None:
        """Check for error toasts, then save a screenshot (to ``staging``)."""
        self.settle()
        toasts = [
            text
            for toast in self.page.locator("ha-toast").all()
            if (text := toast.evaluate(JS_OPEN_TOASTS))
        ]
        if toasts:
            raise CheckError(f"a toast is shown: {'; '.join(toasts)}")
        path = self.staging / file_name
        self.page.screenshot(path=path)
        shrink_png(path)
        self.shots.append(path)

    def wait_logbook(self, device: str, labels: list[str], timeout: float) -> bool:
        """Wait until the device page's logbook shows a line about ``device``.

        Its lines name the device and the entity ("BaluHost NAS State changed to
        Online"); the check for the device's name keeps a logbook still showing the
        previous page's device from counting.
        """
        lines = [f"{device} {label}" for label in labels]
        logbook = self.page.locator("ha-config-device-page ha-logbook").first
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = logbook.evaluate(JS_DEEP_TEXT, timeout=1000)
            except PlaywrightError:
                text = ""
            if any(line in text for line in lines):
                return True
            self.page.wait_for_timeout(250)
        return False

    def balupi_devices(self) -> dict[str, Any]:
        """BaluPi's devices as the frontend knows them: name -> id, entities."""
        devices: dict[str, Any] = self.page.evaluate(JS_BALUPI)
        return devices

    # -- the steps -----------------------------------------------------------------

    def login(self, username: str, password: str) -> None:
        """Sign in through Home Assistant's login page."""
        page = self.page
        page.goto(self.base + "/", wait_until="domcontentloaded")
        page.wait_for_url("**/auth/authorize?**", timeout=self.timeout_ms)
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(password)
        page.get_by_role("button", name="Log in").click()
        try:
            page.wait_for_function(JS_HASS_READY, timeout=self.timeout_ms)
        except PlaywrightError as err:
            raise CheckError(
                f"not signed in as {username!r} with BaluPi's entities loaded "
                f"(page: {page.url})"
            ) from err
        # The Overview lists BaluPi's entities, and so loads BaluPi's translations.
        # Wait for them: a device page's logbook renders state values only once, raw
        # ("online") if they are not there yet, translated ("Online") if they are.
        # The pages after this one are opened inside the app, which keeps them.
        nas_state = next(
            (
                entity["entity_id"]
                for device in self.balupi_devices().values()
                for entity in device["entities"]
                if entity["translation_key"] == "nas_state"
            ),
            None,
        )
        if nas_state is None:
            raise CheckError("the frontend knows no BaluPi NAS state entity")
        try:
            page.wait_for_function(
                JS_STATE_TRANSLATED,
                arg=[nas_state, self.names["_states"]["nas_state"]],
                timeout=self.timeout_ms,
            )
        except PlaywrightError as err:
            raise CheckError(
                f"the frontend does not show {nas_state} with BaluPi's state "
                "translations (translations/en.json)"
            ) from err

    def navigate(self, path: str) -> None:
        """Open ``path`` inside the running app, as its own links do (no reload)."""
        self.page.evaluate(JS_NAVIGATE, path)
        self.page.wait_for_url(f"**{path}", timeout=self.timeout_ms)

    def open_devices_and_services(self) -> None:
        """Settings (in the sidebar) -> Devices & services."""
        page = self.page
        page.locator("ha-sidebar").get_by_text("Settings", exact=True).click()
        page.wait_for_url("**/config/dashboard", timeout=self.timeout_ms)
        page.get_by_text("Devices & services", exact=True).first.click()
        page.wait_for_url("**/config/integrations/dashboard", timeout=self.timeout_ms)

    def integration_page(self) -> None:
        """Settings -> Devices & services -> the BaluPi card: the integration page."""
        page = self.page
        self.open_devices_and_services()
        card = page.locator("ha-integration-card").filter(has_text="BaluPi")
        self.visible(card, "the BaluPi card on Devices & services")
        card.first.get_by_text("BaluPi", exact=True).first.click()
        page.wait_for_url("**/config/integrations/integration/balupi", timeout=5000)
        entries: list[dict[str, Any]] = page.evaluate(
            """() => document.querySelector('home-assistant').hass.callWS(
                {type: 'config_entries/get', domain: 'balupi'})"""
        )
        if not entries:
            raise CheckError("no BaluPi config entry")
        for entry in entries:
            self.visible(page.get_by_text(entry["title"]), f"entry {entry['title']!r}")
        # Each plug is a sub-entry, listed under the entry with its device name.
        devices = self.balupi_devices()
        plugs = [d for d in devices if d not in ("BaluHost NAS", "BaluPi")]
        for plug in plugs:
            self.visible(
                page.get_by_text(plug, exact=True), f"plug {plug!r} under the entry"
            )
        self.screenshot("integration.png")

    def device_page(
        self,
        device: str,
        entities: dict[str, list[str]],
        known: list[str],
        file_name: str,
    ) -> None:
        """Open a BaluPi device's page; every entity must be listed by name."""
        page = self.page
        devices = self.balupi_devices()
        if device not in devices:
            raise CheckError(
                f"no device {device!r} with BaluPi entities (devices: {sorted(devices)})"
            )
        info = devices[device]
        self.navigate(f"/config/devices/device/{info['id']}")
        header = page.locator("ha-config-device-page").get_by_text(device, exact=True)
        self.visible(header, f"the {device!r} device page")
        cards = page.locator("ha-device-entities-card")
        missing: list[str] = []
        labels: list[str] = []
        for platform, keys in entities.items():
            for key in keys:
                label = self.name(platform, key)
                labels.append(label)
                # Once one is missing, the page has had its time: look, don't wait.
                try:
                    expect(cards.get_by_text(label, exact=True).first).to_be_visible(
                        timeout=1000 if missing else self.timeout_ms
                    )
                except AssertionError:
                    missing.append(label)
        if missing:
            raise CheckError(f"{device}: entities not listed: {', '.join(missing)}")
        # The key entities must have a state: they show in the frontend's states.
        by_key = {e["translation_key"]: e for e in info["entities"]}
        unknown = [
            f"{by_key[key]['entity_id']}={by_key[key]['state']}"
            for key in known
            if key in by_key
            and by_key[key]["state"] in (None, "unavailable", "unknown")
        ]
        if unknown:
            raise CheckError(f"{device}: no state: {', '.join(unknown)}")
        # The logbook card fills in last, with lines such as "BaluHost NAS State
        # changed to Online". A device with no history yet shows none.
        if not self.wait_logbook(device, labels, timeout=10):
            print(f"browser check: {device}: no logbook lines shown (not a failure)")
        self.screenshot(file_name)

    def config_flow(self) -> None:
        """Devices & services -> Add integration -> BaluPi: the first form."""
        page = self.page
        texts = self.names["_config_user"]
        self.open_devices_and_services()
        page.get_by_role("button", name="Add integration").click()
        dialog = page.locator("ha-dialog, ha-md-dialog")
        search = dialog.get_by_label("Search for a brand name")
        self.visible(search, "the Add integration dialog's search field")
        # Typed key by key, as a person does: fill() sets the whole word at once,
        # and Home Assistant 2025.4's brand list (a lit-virtualizer) then throws
        # "Cannot read properties of undefined (reading 'domain')" now and then,
        # as it renders rows of the long list that the filter has just removed.
        search.first.press_sequentially("BaluPi", delay=80)
        brand = dialog.get_by_text("BaluPi", exact=True)
        self.visible(brand, "BaluPi in the Add integration list")
        brand.first.click()
        self.visible(page.get_by_text(texts["title"], exact=True), texts["title"])
        for key, label in texts.items():
            if key.startswith("data:"):
                self.visible(dialog.get_by_label(label), f"the field {label!r}")
        self.screenshot("config-flow.png")
        # Closing the dialog aborts the flow; nothing is added.
        page.locator("dialog-data-entry-flow").get_by_role(
            "button", name="Close"
        ).click()
        expect(page.get_by_text(texts["title"], exact=True)).to_have_count(
            0, timeout=self.timeout_ms
        )

    def energy_config(self) -> None:
        """The Energy configuration: "Add device" offers every plug's energy sensor."""
        page = self.page
        self.navigate("/config/energy")
        heading = page.get_by_text("Individual devices", exact=True)
        self.visible(heading, "the Energy configuration")
        add = page.get_by_role("button", name="Add device")
        self.visible(add, "the Individual devices' Add device button")
        add.first.click()
        picker = page.locator("ha-statistic-picker")
        self.visible(picker, "the Add a device dialog's energy sensor picker")
        picker.first.click()
        label = self.name("sensor", "energy_today")
        page.keyboard.type(label.lower())
        wanted = sorted(
            entity["entity_id"]
            for device in self.balupi_devices().values()
            for entity in device["entities"]
            if entity["translation_key"] == "energy_today"
        )
        if not wanted:
            raise CheckError(f"no plug has an {label!r} sensor")
        for entity_id in wanted:
            self.visible(
                page.get_by_text(entity_id, exact=True),
                f"{entity_id} offered as a device's energy consumption",
            )
        self.screenshot("energy-config.png")
        page.keyboard.press("Escape")


def shrink_png(path: Path) -> None:
    """Re-encode a screenshot over MAX_PNG_BYTES as a 256-colour PNG (Pillow)."""
    if path.stat().st_size <= MAX_PNG_BYTES:
        return
    try:
        from PIL import Image  # noqa: PLC0415  (Home Assistant brings Pillow)
    except ImportError:
        print(f"browser check: {path.name} is over 300 KB and Pillow is missing")
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def load_names() -> dict[str, dict[str, Any]]:
    """Entity names and the user step's texts from the integration's en.json."""
    strings = json.loads(TRANSLATIONS.read_text(encoding="utf-8"))
    names: dict[str, dict[str, Any]] = {
        platform: {key: item["name"] for key, item in entities.items()}
        for platform, entities in strings["entity"].items()
    }
    names["_states"] = {
        key: item["state"]
        for entities in strings["entity"].values()
        for key, item in entities.items()
        if "state" in item
    }
    user = strings["config"]["step"]["user"]
    names["_config_user"] = {
        "title": user["title"],
        **{f"data:{key}": label for key, label in user["data"].items()},
    }
    return names


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8123")
    parser.add_argument("--username", default="dev")
    parser.add_argument("--password", default="balupi-dev")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--failures",
        type=Path,
        default=ROOT / "config" / "browser-check-failures",
        help="where the pages of failed steps are saved",
    )
    parser.add_argument(
        "--inbox",
        choices=["auto", "yes", "no"],
        default="auto",
        help="expect the inbox sensors (auto: when sshd is installed, as develop does)",
    )
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument(
        "--timeout", type=float, default=30, help="seconds to wait for each thing"
    )
    return parser.parse_args()


def run(args: argparse.Namespace) -> int:
    """Walk through the pages; print the problems; 0 when there are none."""
    inbox = args.inbox == "yes" or (args.inbox == "auto" and sshd_installed())
    hub = HUB_ENTITIES
    if inbox:
        hub = {"sensor": [*HUB_ENTITIES["sensor"], *INBOX_ENTITIES["sensor"]]}
    shutil.rmtree(args.failures, ignore_errors=True)
    watcher = Watcher()
    started = time.monotonic()
    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="balupi-chromium-") as profile,
        tempfile.TemporaryDirectory(prefix="balupi-screenshots-") as staging,
    ):
        context: BrowserContext = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
            locale="en-US",
            timezone_id="Europe/Berlin",
        )

        # Nothing leaves the machine: requests to other hosts fail at once.
        def refuse(route: Route) -> None:
            route.abort("internetdisconnected")

        context.route(is_external, refuse)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", watcher.on_console)
        page.on("pageerror", watcher.on_page_error)
        page.set_default_timeout(args.timeout * 1000)
        check = Check(
            page=page,
            base=args.base.rstrip("/"),
            staging=Path(staging),
            failures_dir=args.failures,
            names=load_names(),
            timeout_ms=args.timeout * 1000,
            watcher=watcher,
        )
        with check.step("login", "login.png"):
            check.login(args.username, args.password)
        if not check.problems:
            with check.step("integration page", "integration.png"):
                check.integration_page()
            with check.step("BaluHost NAS device page", "device-nas.png"):
                check.device_page(
                    "BaluHost NAS", NAS_ENTITIES, NAS_KNOWN, "device-nas.png"
                )
            with check.step("BaluPi device page", "device-balupi.png"):
                check.device_page("BaluPi", hub, HUB_KNOWN, "device-balupi.png")
            with check.step("config flow", "config-flow.png"):
                check.config_flow()
            with check.step("energy configuration", "energy-config.png"):
                check.energy_config()
        context.close()
        problems = check.problems + watcher.errors
        # docs/ gets the screenshots of a run that passed, and only those.
        target = args.failures if problems else args.out
        target.mkdir(parents=True, exist_ok=True)
        saved = [
            Path(shutil.copy(shot, target / shot.name))
            for shot in sorted(Path(staging).glob("*.png"))
        ]

    for title, seconds in check.timings:
        print(f"browser check: {title}: {seconds:.1f} s")
    for shot in saved:
        shown = shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot
        print(f"browser check: saved {shown} ({shot.stat().st_size // 1024} KB)")
    if watcher.ignored:
        hosts = sorted({urlsplit(url).hostname or url for url in watcher.ignored})
        print(
            f"browser check: ignored {len(watcher.ignored)} failed loads from other "
            f"hosts (the network is closed): {', '.join(hosts)}"
        )
    total = time.monotonic() - started
    if problems:
        for stack in watcher.stacks:
            print(
                f"browser check: uncaught error in the page:\n{stack}", file=sys.stderr
            )
        print(f"browser check FAILED after {total:.0f} s:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            f"browser check: {args.out} left as it was; "
            f"this run's pages are in {args.failures}",
            file=sys.stderr,
        )
        return 1
    print(
        f"browser check passed in {total:.0f} s: signed in, {len(check.shots)} "
        f"pages checked, no JavaScript errors"
    )
    return 0


def main() -> int:
    """Run the check."""
    args = parse_args()
    if not Path(args.chromium).exists():
        print(
            f"browser check: no Chromium at {args.chromium} (apt-get install chromium)",
            file=sys.stderr,
        )
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
