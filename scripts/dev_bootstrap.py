"""Finish Home Assistant's onboarding and add BaluPi, through HA's own REST API.

Used by scripts/develop once Home Assistant answers. Idempotent: a second run signs in
with the development login and leaves an existing BaluPi entry alone. Walking the
config flow over REST is exactly what the frontend does, so this also proves that the
flow is reachable from outside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import sys
import time
from typing import Any

import aiohttp

CLIENT_ID = "http://127.0.0.1:8123/"
TAPO_USERNAME = "user@example.com"  # what simulators.tapo accepts by default
TAPO_PASSWORD = "tapo-secret"  # noqa: S105


class BootstrapError(Exception):
    """Home Assistant did not do what the bootstrap expected."""


def prepare_onboarding(config_dir: Path) -> None:
    """Mark the onboarding steps after the owner as done, before Home Assistant starts.

    Finishing the "core config" step over the API sets up met.no, Google Translate and
    Radio Browser, which reach the Internet. The development instance runs against
    loopback simulators only, so only the owner is created through the API.
    """
    store = config_dir / ".storage" / "onboarding"
    if store.exists():
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(
        json.dumps(
            {
                "version": 4,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ["core_config", "analytics", "integration"]},
            }
        )
    )


async def wait_for_home_assistant(
    session: aiohttp.ClientSession, base: str, timeout: float
) -> None:
    """Wait until Home Assistant serves its frontend manifest."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(f"{base}/manifest.json") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise BootstrapError(
                f"Home Assistant did not answer at {base} in {timeout:g} s"
            )
        await asyncio.sleep(1)


async def _json(response: aiohttp.ClientResponse, what: str) -> Any:
    if response.status >= 400:
        raise BootstrapError(f"{what}: HTTP {response.status}: {await response.text()}")
    return await response.json()


async def token_from_code(session: aiohttp.ClientSession, base: str, code: str) -> str:
    """Exchange an authorization code for an access token."""
    async with session.post(
        f"{base}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
    ) as response:
        token: str = (await _json(response, "token"))["access_token"]
        return token


async def onboard(
    session: aiohttp.ClientSession, base: str, username: str, password: str
) -> str:
    """Create the owner (the last open onboarding step); return an access token."""
    async with session.post(
        f"{base}/api/onboarding/users",
        json={
            "client_id": CLIENT_ID,
            "name": "BaluPi Developer",
            "username": username,
            "password": password,
            "language": "en",
        },
    ) as response:
        code = (await _json(response, "onboarding user"))["auth_code"]
    return await token_from_code(session, base, code)


async def login(
    session: aiohttp.ClientSession, base: str, username: str, password: str
) -> str:
    """Sign in through the login flow, as the frontend does; return an access token."""
    async with session.post(
        f"{base}/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": ["homeassistant", None],
            "redirect_uri": CLIENT_ID,
        },
    ) as response:
        flow_id = (await _json(response, "login flow"))["flow_id"]
    async with session.post(
        f"{base}/auth/login_flow/{flow_id}",
        json={"client_id": CLIENT_ID, "username": username, "password": password},
    ) as response:
        result = await _json(response, "login")
    if result.get("type") != "create_entry":
        raise BootstrapError(f"login refused for {username!r}: {result.get('errors')}")
    return await token_from_code(session, base, result["result"])


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    body: dict[str, Any],
    what: str,
) -> Any:
    async with session.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return await _json(response, what)


def _select_values(step: dict[str, Any], field: str) -> list[str]:
    """The option values a select field of a flow form offers."""
    for item in step["data_schema"]:
        if item["name"] == field:
            return [option["value"] for option in item["selector"]["select"]["options"]]
    raise BootstrapError(f"no field {field!r} in {step}")


async def add_balupi(
    session: aiohttp.ClientSession,
    base: str,
    token: str,
    user_input: dict[str, str],
    plugs: list[str],
) -> str:
    """Walk BaluPi's config flow over REST unless an entry exists; return what it did.

    The first of ``plugs`` (``host:port``) is added at setup as the NAS's plug, the
    others through the "Add Tapo plug" flow, exactly as a user would.
    """
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(
        f"{base}/api/config/config_entries/entry", headers=headers
    ) as response:
        entries = await _json(response, "config entries")
    for entry in entries:
        if entry["domain"] == "balupi":
            if entry["state"] != "loaded":
                raise BootstrapError(f"the BaluPi entry is {entry['state']}")
            return "already set up and loaded"

    flow_url = f"{base}/api/config/config_entries/flow"
    step = await _post(
        session, flow_url, token, {"handler": "balupi"}, "start BaluPi flow"
    )
    step_url = f"{flow_url}/{step['flow_id']}"
    step = await _post(session, step_url, token, user_input, "BaluPi user step")
    if step.get("errors"):
        raise BootstrapError(
            f"BaluPi rejected the development settings: {step['errors']}"
        )
    # The NAS answered (form) or not (menu: save anyway).
    answer = {"next_step_id": "finish"} if step["type"] == "menu" else {}
    step = await _post(session, step_url, token, answer, "BaluPi NAS confirmation")
    account = {"tapo_username": TAPO_USERNAME, "tapo_password": TAPO_PASSWORD}
    if not plugs:
        step = await _post(session, step_url, token, {}, "BaluPi without plugs")
    else:
        step = await _post(
            session, step_url, token, {**account, "plug_host": plugs[0]}, "Tapo account"
        )
        if step.get("errors"):
            raise BootstrapError(f"the NAS plug at {plugs[0]}: {step['errors']}")
        macs = _select_values(step, "plugs")
        step = await _post(
            session, step_url, token, {"plugs": macs, "nas_plug": macs[0]}, "plugs"
        )
    if step["type"] != "create_entry" or step["result"]["state"] != "loaded":
        raise BootstrapError(f"BaluPi flow ended with {step}")
    entry_id = step["result"]["entry_id"]
    sub_url = f"{base}/api/config/config_entries/subentries/flow"
    for plug in plugs[1:]:
        sub = await _post(
            session, sub_url, token, {"handler": [entry_id, "plug"]}, "add plug"
        )
        sub = await _post(
            session, f"{sub_url}/{sub['flow_id']}", token, {"plug_host": plug}, plug
        )
        if sub["type"] != "create_entry":
            raise BootstrapError(f"adding the plug at {plug} ended with {sub}")
    return f"added and loaded with {len(plugs)} plugs"


async def summary(
    session: aiohttp.ClientSession, base: str, token: str, expect_plugs: bool
) -> str:
    """Read BaluPi's key states back through the REST API, waiting for the plugs."""
    wanted = ["binary_sensor.baluhost_nas_reachable"]
    if expect_plugs:
        wanted += ["sensor.balupi_total_power", "sensor.baluhost_nas_power_state"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(30):
        async with session.get(f"{base}/api/states", headers=headers) as response:
            states = {s["entity_id"]: s for s in await _json(response, "states")}
        found = [states.get(entity_id) for entity_id in wanted]
        if all(
            s is not None and s["state"] not in ("unknown", "unavailable")
            for s in found
        ):
            return ", ".join(
                f"{s['entity_id']}={s['state']}{s['attributes'].get('unit_of_measurement', '')}"
                for s in found
                if s is not None
            )
        await asyncio.sleep(1)
    raise BootstrapError(f"BaluPi's entities did not report: {found}")


async def main() -> int:
    """Run the bootstrap; print the login."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8123")
    parser.add_argument("--username", default="dev")
    parser.add_argument("--password", default="balupi-dev")
    parser.add_argument("--nas-url", default="http://127.0.0.1:18000")
    parser.add_argument("--nas-mac", default="02:ba:10:00:00:01")
    parser.add_argument("--pi-ip", default="127.0.0.1")
    parser.add_argument(
        "--plug",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a simulated Tapo plug to add; the first one powers the NAS",
    )
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument(
        "--prepare",
        type=Path,
        metavar="CONFIG_DIR",
        help="only prepare CONFIG_DIR's onboarding state, before Home Assistant starts",
    )
    args = parser.parse_args()
    if args.prepare is not None:
        prepare_onboarding(args.prepare)
        return 0

    async with aiohttp.ClientSession() as session:
        await wait_for_home_assistant(session, args.base, args.timeout)
        async with session.get(f"{args.base}/api/onboarding") as response:
            # Once onboarding is finished, Home Assistant no longer serves this view.
            steps = (
                [] if response.status == 404 else await _json(response, "onboarding")
            )
        user_done = next((s["done"] for s in steps if s["step"] == "user"), True)
        if user_done:
            token = await login(session, args.base, args.username, args.password)
        else:
            token = await onboard(session, args.base, args.username, args.password)
        balupi = await add_balupi(
            session,
            args.base,
            token,
            {"nas_url": args.nas_url, "nas_mac": args.nas_mac, "pi_ip": args.pi_ip},
            args.plug,
        )
        states = await summary(session, args.base, token, bool(args.plug))
    print(f"Home Assistant: {args.base}")
    print(f"Login:          {args.username} / {args.password}")
    print(f"BaluPi:         {balupi}, NAS simulator at {args.nas_url}")
    print(f"States:         {states}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except BootstrapError as err:
        print(f"dev bootstrap failed: {err}", file=sys.stderr)
        sys.exit(1)
