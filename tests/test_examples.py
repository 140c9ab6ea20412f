"""The examples: the blueprints and the dashboard, checked with Home Assistant's code.

The blueprints are loaded, imported from their GitHub link and run as automations by
Home Assistant itself, against BaluPi's real state changes. The dashboard is loaded as
a YAML-mode dashboard and every entity it names must be one BaluPi really created.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
import itertools
import logging
from pathlib import Path
import re
import socket
from typing import Any
from urllib.parse import parse_qs, urlparse

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import importer
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, selector
from homeassistant.helpers.template import Template
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util, yaml as yaml_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.balupi.const import (
    CONF_BOOT_TIMEOUT,
    CONF_INBOX_FOLDER,
    CONF_NAS_INBOX_PATH,
    CONF_PIHOLE_PASSWORD,
    CONF_PIHOLE_URL,
    CONF_SSH_HOST_KEY,
    CONF_SSH_PORT,
    CONF_SSH_PRIVATE_KEY,
    CONF_SSH_PUBLIC_KEY,
    CONF_SSH_USER,
    CONF_WOL_BROADCAST,
    CONF_WOL_PORT,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.balupi.inbox import generate_key_pair
from custom_components.balupi.lifecycle import EVENT_NAS_STATE_CHANGED, SHUTDOWN_TIMEOUT
from simulators.baluhost import BaluHostSimulator, NasMode
from simulators.nas_push import NasPushClient
from simulators.pihole import PiholeSimulator
from simulators.snapshot import make_snapshot
from simulators.tapo import TapoPlugSimulator

from .conftest import NAS_MAC, PIHOLE_PASSWORD, SECRET, entry_data, read_nas_plug, tick

REPO = Path(__file__).resolve().parent.parent
BLUEPRINT_FOLDER = REPO / "blueprints" / "automation" / "balupi"
OFFLINE = "nas_offline_without_goodbye.yaml"
WAKE = "wake_nas_at_time.yaml"
BLUEPRINTS = sorted(path.name for path in BLUEPRINT_FOLDER.glob("*.yaml"))
DASHBOARD = REPO / "examples" / "dashboard.yaml"
README = REPO / "README.md"
GITHUB = "https://github.com/Xveyn/balupi-homeassistant/blob/main/"
RAW = "https://raw.githubusercontent.com/Xveyn/balupi-homeassistant/main/"

NAS_STATE = "sensor.baluhost_nas_state"
WAKE_BUTTON = "button.baluhost_nas_wake_up"
SNAPSHOT_USERS = itertools.count(1)
NOTIFY = [
    {
        "action": "notify.test",
        "data": {"title": "{{ title }}", "message": "{{ message }}"},
    }
]


def test_the_blueprints_are_there() -> None:
    assert OFFLINE in BLUEPRINTS
    assert WAKE in BLUEPRINTS


def load_blueprint(name: str) -> Blueprint:
    """Load a blueprint file as Home Assistant's automation integration does."""
    return Blueprint(
        yaml_util.load_yaml_dict(BLUEPRINT_FOLDER / name),
        path=f"balupi/{name}",
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )


@pytest.mark.parametrize("name", BLUEPRINTS)
def test_blueprint_is_valid(name: str) -> None:
    """Home Assistant accepts it; every input's default fits the input's selector."""
    blueprint = load_blueprint(name)
    assert blueprint.validate() is None, "this Home Assistant is new enough"
    assert blueprint.metadata["source_url"] == (
        f"{GITHUB}blueprints/automation/balupi/{name}"
    )
    assert blueprint.inputs
    for key, spec in blueprint.inputs.items():
        assert spec.get("name"), key
        if "default" in spec:
            selector.selector(spec["selector"])(spec["default"])


@pytest.mark.parametrize("name", BLUEPRINTS)
async def test_blueprint_imports_from_its_github_link(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, name: str
) -> None:
    """The link in the README is one Home Assistant's blueprint import understands."""
    path = f"blueprints/automation/balupi/{name}"
    aioclient_mock.get(f"{RAW}{path}", text=(REPO / path).read_text())
    imported = await importer.fetch_blueprint_from_url(hass, f"{GITHUB}{path}")
    assert imported.blueprint.domain == "automation"
    assert imported.blueprint.name == load_blueprint(name).name
    assert imported.suggested_filename == f"Xveyn/{name.removesuffix('.yaml')}"


def test_readme_links_every_blueprint_for_import() -> None:
    links = re.findall(
        r"https://my\.home-assistant\.io/redirect/blueprint_import/\?[^)\s>\"]+",
        README.read_text(),
    )
    linked = {parse_qs(urlparse(link).query)["blueprint_url"][0] for link in links}
    assert linked == {
        load_blueprint(name).metadata["source_url"] for name in BLUEPRINTS
    }


# -- Running the blueprints ---------------------------------------------------------


SetUpBlueprint = Callable[[str, dict[str, Any]], Awaitable[str]]


@pytest.fixture
async def use_blueprint(
    hass: HomeAssistant, tmp_path: Path
) -> AsyncIterator[SetUpBlueprint]:
    """Set up automations from the blueprint files, as a user's configuration does.

    The blueprints are found where Home Assistant looks for them:
    ``<config>/blueprints/automation/balupi/``. Turned off at the end, the automations
    drop their timers (a time trigger waits for the next morning).
    """
    folder = tmp_path / "config" / "blueprints" / "automation"
    folder.mkdir(parents=True)
    (folder / "balupi").symlink_to(BLUEPRINT_FOLDER, target_is_directory=True)
    hass.config.config_dir = str(tmp_path / "config")

    async def set_up(name: str, inputs: dict[str, Any]) -> str:
        alias = f"Example {name.removesuffix('.yaml')}"
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": [
                    {
                        "alias": alias,
                        "use_blueprint": {"path": f"balupi/{name}", "input": inputs},
                    }
                ]
            },
        )
        await hass.async_block_till_done()
        entity_id = f"automation.{alias.lower().replace(' ', '_')}"
        automation = hass.states.get(entity_id)
        assert automation is not None, entity_id
        assert automation.state == "on", "Home Assistant accepted the automation"
        return entity_id

    yield set_up
    if hass.services.has_service("automation", "turn_off"):
        await hass.services.async_call(
            "automation", "turn_off", {"entity_id": "all"}, blocking=True
        )


@pytest.fixture
async def wol_entry(hass: HomeAssistant, nas: BaluHostSimulator) -> MockConfigEntry:
    """The NAS without a plug, its magic packets sent to the simulated NAS."""
    nas.boot_time = 3600  # stays down after a magic packet, until the test runs it
    port = await nas.listen_for_wake_on_lan()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data=entry_data(nas),
        options={
            **DEFAULT_OPTIONS,
            CONF_WOL_BROADCAST: "127.0.0.1",
            CONF_WOL_PORT: port,
            CONF_BOOT_TIMEOUT: 60,
        },
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(NAS_STATE).state == "online"
    return entry


@pytest.fixture
async def nas_push(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> NasPushClient:
    """The NAS's push client, pushing to Home Assistant's HTTP server."""
    client = await hass_client_no_auth()
    return NasPushClient(client.session, str(client.make_url("")), SECRET)


async def say_goodbye(hass: HomeAssistant, nas_push: NasPushClient) -> None:
    """The NAS's shutdown push, signed and sent as BaluHost sends it."""
    # A new snapshot each time: a signature is accepted once, and the clock is frozen.
    reply = await nas_push.going_offline(make_snapshot(users=next(SNAPSHOT_USERS)))
    assert reply.ok, reply
    await hass.async_block_till_done(wait_background_tasks=True)


async def press_wake(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": WAKE_BUTTON}, blocking=True
    )
    await hass.async_block_till_done()


def moves(events: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (e.data["old_state"], e.data["new_state"], e.data["reason"]) for e in events
    ]


async def test_offline_without_goodbye_from_real_state_changes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    use_blueprint: SetUpBlueprint,
    wol_entry: MockConfigEntry,
    nas_push: NasPushClient,
    nas: BaluHostSimulator,
) -> None:
    """Goodbyes stay quiet; a failed wake-up and a crash are reported with the reason."""
    notified = async_mock_service(hass, "notify", "test")
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    await use_blueprint(
        OFFLINE,
        {"notify_actions": NOTIFY, "balupi_entry": wol_entry.entry_id},
    )

    # A proper shutdown: online → shutting down → offline (no plug to see the power
    # go: after the bound).
    await say_goodbye(hass, nas_push)
    await nas.set_mode(NasMode.REFUSED)
    assert hass.states.get(NAS_STATE).state == "shutting_down"
    await tick(hass, freezer, SHUTDOWN_TIMEOUT)
    assert [move[:2] for move in moves(events)] == [
        ("online", "shutting_down"),
        ("shutting_down", "offline"),
    ]
    assert notified == []

    # Woken, then a goodbye before BaluPi saw it online: booting → offline directly.
    await press_wake(hass)
    assert nas.wol_packets == 1
    assert hass.states.get(NAS_STATE).state == "booting"
    await say_goodbye(hass, nas_push)
    assert moves(events)[-1] == ("booting", "offline", "the NAS stopped its services")
    assert notified == []

    # Woken, and it never comes up: the boot timeout sets it offline.
    await press_wake(hass)
    for _ in range(13):
        await tick(hass, freezer, 5)
    assert moves(events)[-1] == ("booting", "offline", "the boot timeout passed")
    assert len(notified) == 1
    assert notified[0].data == {
        "title": "BaluHost NAS offline",
        "message": "The NAS went from booting to offline without saying goodbye: "
        "the boot timeout passed.",
    }

    # Up again, then its service stops answering: three missed heartbeats.
    await nas.run()
    await tick(hass, freezer, 30)
    assert hass.states.get(NAS_STATE).state == "online"
    await nas.set_mode(NasMode.REFUSED)
    for _ in range(3):
        await tick(hass, freezer, 30)
    assert moves(events)[-1][:2] == ("online", "offline")
    assert len(notified) == 2
    assert notified[1].data["message"] == (
        "The NAS went from online to offline without saying goodbye: "
        "no answer from the health endpoint 3 times."
    )


@pytest.mark.parametrize("include_sleep", [False, True])
async def test_sleep_is_reported_only_when_asked(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    use_blueprint: SetUpBlueprint,
    loaded_plug_entry: MockConfigEntry,
    nas: BaluHostSimulator,
    plugs: list[TapoPlugSimulator],
    include_sleep: bool,
) -> None:
    """With a NAS plug: soft sleep (standby power) and a power cut."""
    nas.plug = plugs[0]
    notified = async_mock_service(hass, "notify", "test")
    await use_blueprint(
        OFFLINE,
        {"notify_actions": NOTIFY, "include_sleep": include_sleep},
    )
    assert hass.states.get(NAS_STATE).state == "online"

    await nas.sleep()
    await read_nas_plug(hass, loaded_plug_entry)
    assert hass.states.get(NAS_STATE).state == "offline"
    assert len(notified) == (1 if include_sleep else 0)

    await nas.run()
    for _ in range(4):
        await tick(hass, freezer, 30)
        if hass.states.get(NAS_STATE).state == "online":
            break
    assert hass.states.get(NAS_STATE).state == "online"

    await nas.shut_down()
    await read_nas_plug(hass, loaded_plug_entry)
    assert hass.states.get(NAS_STATE).state == "offline"
    assert len(notified) == (2 if include_sleep else 1)
    assert notified[-1].data["message"] == (
        "The NAS went from online to offline without saying goodbye: "
        "the NAS plug reads no power."
    )


@pytest.mark.parametrize(
    ("chosen", "event", "expected"),
    [
        ("", {"entry_id": "a", "old_state": "online"}, True),
        ("a", {"entry_id": "a", "old_state": "online"}, True),
        ("a", {"entry_id": "b", "old_state": "online"}, False),
        ("", {"entry_id": "a", "old_state": "shutting_down"}, False),
        ("", {"entry_id": "a", "old_state": "unknown"}, False),
    ],
)
async def test_offline_blueprint_filters_events(
    hass: HomeAssistant,
    use_blueprint: SetUpBlueprint,
    chosen: str,
    event: dict[str, str],
    expected: bool,
) -> None:
    """The chosen entry only; not from shutting down; not BaluPi's first look."""
    notified = async_mock_service(hass, "notify", "test")
    await use_blueprint(OFFLINE, {"notify_actions": NOTIFY, "balupi_entry": chosen})
    hass.bus.async_fire(
        EVENT_NAS_STATE_CHANGED,
        {
            **event,
            "new_state": "offline",
            "reason": "the NAS plug reads no power",
            "cause": "no_power",
        },
    )
    await hass.async_block_till_done()
    assert len(notified) == (1 if expected else 0)


async def test_offline_blueprint_default_is_a_persistent_notification(
    hass: HomeAssistant, use_blueprint: SetUpBlueprint
) -> None:
    created = async_mock_service(hass, "persistent_notification", "create")
    await use_blueprint(OFFLINE, {})
    hass.bus.async_fire(
        EVENT_NAS_STATE_CHANGED,
        {
            "entry_id": "a",
            "old_state": "online",
            "new_state": "offline",
            "reason": "the NAS plug reads no power",
            "cause": "no_power",
        },
    )
    await hass.async_block_till_done()
    assert len(created) == 1
    assert created[0].data["title"] == "BaluHost NAS offline"
    assert "the NAS plug reads no power" in created[0].data["message"]


def next_morning() -> datetime:
    """The next 06:30 in Home Assistant's time zone."""
    now = dt_util.now()
    target = now.replace(hour=6, minute=30, second=0, microsecond=0)
    return target if target > now else target + timedelta(days=1)


@pytest.mark.parametrize(
    ("state", "today", "woken"),
    [
        ("offline", True, True),
        ("offline", False, False),
        ("online", True, False),
    ],
)
async def test_wake_at_a_set_time(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    use_blueprint: SetUpBlueprint,
    wol_entry: MockConfigEntry,
    nas_push: NasPushClient,
    nas: BaluHostSimulator,
    caplog: pytest.LogCaptureFixture,
    state: str,
    today: bool,
    woken: bool,
) -> None:
    """Pressed at the time, on the chosen days, only while the NAS is offline."""
    if state == "offline":
        await say_goodbye(hass, nas_push)
        await nas.set_mode(NasMode.REFUSED)
        await tick(hass, freezer, SHUTDOWN_TIMEOUT)  # shutting down, then offline
    assert hass.states.get(NAS_STATE).state == state
    target = next_morning()
    day = target.strftime("%a").lower()
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    await use_blueprint(
        WAKE,
        {
            "wake_time": "06:30:00",
            "weekdays": days if today else [d for d in days if d != day],
        },
    )

    freezer.move_to(target - timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert nas.wol_packets == 0, "not before the time"
    if state == "online":
        await nas.run()  # still answering at 06:30
    freezer.move_to(target)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert nas.wol_packets == (1 if woken else 0)
    assert hass.states.get(NAS_STATE).state == ("booting" if woken else state)
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and r.name.startswith(("homeassistant.", "custom_components."))
    ]
    assert errors == [], "no refused press, no failed run"


# -- The dashboard ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def everything_entry(
    hass: HomeAssistant,
    plug_entry: MockConfigEntry,
    pihole: PiholeSimulator,
    nas: BaluHostSimulator,
    tmp_path: Path,
) -> MockConfigEntry:
    """The NAS with the three plugs, a Pi-hole and an inbox: every BaluPi entity.

    The NAS does not answer, so no inbox flush starts (the SSH port is closed).
    """
    await nas.set_mode(NasMode.REFUSED)
    private_key, public_key = generate_key_pair()
    _, host_key = generate_key_pair()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=plug_entry.title,
        unique_id=plug_entry.unique_id,
        data={
            **plug_entry.data,
            CONF_PIHOLE_URL: pihole.url,
            CONF_PIHOLE_PASSWORD: PIHOLE_PASSWORD,
            CONF_INBOX_FOLDER: str(tmp_path / "inbox"),
            CONF_NAS_INBOX_PATH: "/data/inbox",
            CONF_SSH_USER: "baluhost",
            CONF_SSH_PORT: free_port(),
            CONF_SSH_PRIVATE_KEY: private_key,
            CONF_SSH_PUBLIC_KEY: public_key,
            CONF_SSH_HOST_KEY: " ".join(host_key.split()[:2]),
        },
        options=dict(plug_entry.options),
        subentries_data=[
            {
                "data": s.data,
                "subentry_type": s.subentry_type,
                "title": s.title,
                "unique_id": s.unique_id,
            }
            for s in plug_entry.subentries.values()
        ],
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


ENTITY_ID = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")
ACTION_KEYS = {"perform_action", "action", "service"}


def walk(node: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) in the dashboard, depth first."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            yield child_key, child
            yield from walk(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield key, child
            yield from walk(child, key)


def referenced(config: Any) -> tuple[set[str], set[str]]:
    """The entity IDs and the actions a dashboard names."""
    entities, actions = set(), set()
    for key, value in walk(config):
        if not isinstance(value, str) or not ENTITY_ID.match(value):
            continue
        (actions if key in ACTION_KEYS else entities).add(value)
    return entities, actions


def cards(config: Any) -> Iterator[dict[str, Any]]:
    """Every card, row and section that has a type."""
    for key, value in walk(config):
        if isinstance(value, dict) and "type" in value and key != "condition":
            yield value


async def load_dashboard(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> dict[str, Any]:
    """Load examples/dashboard.yaml as a YAML-mode dashboard, as the frontend does."""
    assert await async_setup_component(
        hass,
        "lovelace",
        {
            "lovelace": {
                "dashboards": {
                    "dashboard-balupi": {
                        "mode": "yaml",
                        "filename": str(DASHBOARD),
                        "title": "BaluPi",
                        "icon": "mdi:nas",
                        "show_in_sidebar": True,
                    }
                }
            }
        },
    )
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "lovelace/config", "url_path": "dashboard-balupi"}
    )
    response = await client.receive_json()
    assert response["success"], response
    config: dict[str, Any] = response["result"]
    return config


async def test_dashboard_names_only_balupi_entities(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    everything_entry: MockConfigEntry,
) -> None:
    """Every entity it shows exists; it shows every NAS and BaluPi entity."""
    config = await load_dashboard(hass, hass_ws_client)
    assert config["views"]
    registry = er.async_get(hass)
    created = er.async_entries_for_config_entry(registry, everything_entry.entry_id)
    enabled = {e.entity_id for e in created if e.disabled_by is None}
    entities, actions = referenced(config)

    assert entities - enabled == set(), "not created by BaluPi (or disabled)"
    for entity_id in entities:
        assert hass.states.get(entity_id) is not None, entity_id
    nas_and_hub = {
        entity_id
        for entity_id in enabled
        if entity_id.split(".")[1].startswith(("baluhost_nas_", "balupi_"))
    }
    assert nas_and_hub - entities == set(), "missing from the dashboard"
    assert actions == {"button.press", "balupi.flush_inbox"}
    for action in actions:
        assert hass.services.has_service(*action.split(".")), action


async def test_dashboard_conditions_and_templates_fit(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    everything_entry: MockConfigEntry,
) -> None:
    """States in conditions are the sensors' own; the markdown templates render."""
    config = await load_dashboard(hass, hass_ws_client)
    checked = 0
    for key, value in walk(config):
        if key == "conditions" and isinstance(value, dict) and "entity" in value:
            options = hass.states.get(value["entity"]).attributes.get("options")
            for field in ("state", "state_not"):
                wanted = value.get(field, [])
                for wanted_state in [wanted] if isinstance(wanted, str) else wanted:
                    if options is not None and wanted_state not in {
                        "unavailable",
                        "unknown",
                    }:
                        assert wanted_state in options, value
                        checked += 1
    assert checked >= 3
    markdown = [card for card in cards(config) if card["type"] == "markdown"]
    assert markdown
    for card in markdown:
        rendered = Template(card["content"], hass).async_render(parse_result=False)
        assert "Check the NAS's disks" in rendered


async def test_dashboard_uses_only_core_cards(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    everything_entry: MockConfigEntry,
) -> None:
    """Every card, row, section and view type is one Home Assistant's frontend has."""
    hass_frontend = pytest.importorskip("hass_frontend")
    config = await load_dashboard(hass, hass_ws_client)
    elements = set()
    for view in config["views"]:
        elements.add(f"hui-{view.get('type', 'masonry')}-view")
        for section in view.get("sections", []):
            elements.add(f"hui-{section['type']}-section")
    for key, card in walk(config):
        if not isinstance(card, dict) or "type" not in card:
            continue
        if key == "entities":  # a special row of an entities card
            elements.add(f"hui-{card['type']}-row")
        elif key in {"cards", "card"}:
            elements.add(f"hui-{card['type']}-card")
    assert "hui-tile-card" in elements
    bundle = Path(hass_frontend.__path__[0]) / "frontend_latest"
    missing = set(elements)
    for script in bundle.glob("*.js"):
        text = script.read_text(errors="ignore")
        missing = {name for name in missing if name not in text}
        if not missing:
            break
    assert missing == set(), "not in Home Assistant's frontend"
