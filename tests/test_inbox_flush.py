"""The inbox in Home Assistant: setup step, sensors, the flush action and the pushes.

Against a real sshd on loopback, as the NAS end.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi import flush, inbox, lifecycle
from custom_components.balupi.const import (
    CONF_INBOX_FOLDER,
    CONF_INBOX_SETTLE_TIME,
    CONF_NAS_INBOX_PATH,
    CONF_SSH_HOST_KEY,
    CONF_SSH_PORT,
    CONF_SSH_PRIVATE_KEY,
    CONF_SSH_PUBLIC_KEY,
    CONF_SSH_USER,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.balupi.inbox import generate_key_pair
from simulators.baluhost import BaluHostSimulator
from simulators.nas_push import NasPushClient
from simulators.sshd import SshServer, sshd_available

from .conftest import NAS_MAC, PI_IP, SECRET, entry_data
from .test_inbox import finals, wait_for_temp

PRIVATE_KEY, PUBLIC_KEY = generate_key_pair()

pytestmark = pytest.mark.skipif(
    not (inbox.rsync_available() and sshd_available()),
    reason="needs rsync, ssh and sshd (.ci/run installs them)",
)
INBOX_FILES = "sensor.balupi_inbox_files"
INBOX_SIZE = "sensor.balupi_inbox_size"


@pytest.fixture(params=["rsync", "sftp"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both transports: rsync where the binary exists, SFTP where it does not."""
    if request.param == "sftp":
        monkeypatch.setattr(inbox, "rsync_available", lambda: False)
    name: str = request.param
    return name


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """The Pi's inbox and the NAS's inbox directory."""
    pi, nas = tmp_path / "pi-inbox", tmp_path / "nas-inbox"
    pi.mkdir()
    nas.mkdir()
    return pi, nas


@pytest.fixture
def inbox_entry(
    nas: BaluHostSimulator, sshd: SshServer, folders: tuple[Path, Path]
) -> MockConfigEntry:
    sshd.authorize(PUBLIC_KEY)
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"BaluHost {nas.host}",
        unique_id=NAS_MAC,
        data={
            **entry_data(nas),
            CONF_INBOX_FOLDER: str(folders[0]),
            CONF_NAS_INBOX_PATH: str(folders[1]),
            CONF_SSH_USER: sshd.user,
            CONF_SSH_PORT: sshd.port,
            CONF_SSH_PRIVATE_KEY: PRIVATE_KEY,
            CONF_SSH_PUBLIC_KEY: PUBLIC_KEY,
            CONF_SSH_HOST_KEY: sshd.host_key,
        },
        # Files count as settled as soon as they are seen: the settle time has
        # tests of its own (test_inbox_settle.py).
        options={**DEFAULT_OPTIONS, CONF_INBOX_SETTLE_TIME: 0},
        minor_version=2,
    )


async def set_up(
    hass: HomeAssistant, entry: MockConfigEntry, *, settle_time: int = 0
) -> MockConfigEntry:
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_INBOX_SETTLE_TIME: settle_time}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


def fill(folder: Path, count: int, size: int = 1000) -> dict[str, bytes]:
    files = {f"scan {i:03d}.pdf": bytes([i % 251]) * size for i in range(count)}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return files


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_folder(path: Path) -> bool:
    return path.is_dir()


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


async def test_startup_push_flushes_the_inbox(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    hass_client_no_auth: ClientSessionGenerator,
    transport: str,
) -> None:
    """Files dropped while the NAS was away are on it when it says it is back."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    client = await hass_client_no_auth()
    push = NasPushClient(client.session, str(client.make_url("")), SECRET)
    assert (await push.going_offline({"version": 1})).ok
    files = fill(pi, 5)
    await inbox_entry.runtime_data.nas.async_refresh()
    assert hass.states.get(INBOX_FILES).state == "5"

    reply = await push.coming_online()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert reply.body == {
        "acknowledged": True,
        "dns_switched": False,
        "inbox_flushed": True,
        "files_transferred": 5,
    }
    assert contents(nas_dir) == files
    assert contents(pi) == {}
    assert hass.states.get(INBOX_FILES).state == "0"


async def test_a_large_inbox_does_not_hold_up_the_reply(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The NAS is answered in time; the flush carries on and the reply says so."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    monkeypatch.setattr(lifecycle, "PUSH_REPLY_BUDGET", 0.0)
    files = fill(pi, 20, 200_000)
    client = await hass_client_no_auth()
    reply = await NasPushClient(
        client.session, str(client.make_url("")), SECRET
    ).coming_online()
    assert reply.body is not None
    assert reply.body["inbox_flush"] == "running"
    assert reply.body["files_transferred"] == 0
    await hass.async_block_till_done(wait_background_tasks=True)
    assert contents(nas_dir) == files


async def test_flush_action_reports_files_bytes_and_failures(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    transport: str,
) -> None:
    """A file whose name is taken on the NAS by another file stays on the Pi."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    fill(pi, 3, 2000)
    (nas_dir / "scan 001.pdf").write_bytes(b"the NAS's own file")
    response: Any = await hass.services.async_call(
        DOMAIN, "flush_inbox", {}, blocking=True, return_response=True
    )
    assert response["transport"] == transport
    assert response["files_transferred"] == 2
    assert response["bytes_transferred"] >= 4000
    assert [f["path"] for f in response["failures"]] == ["scan 001.pdf"]
    assert response["files_remaining"] == 1
    assert (nas_dir / "scan 001.pdf").read_bytes() == b"the NAS's own file"
    assert (pi / "scan 001.pdf").exists()
    assert hass.states.get(INBOX_FILES).state == "1"


async def test_flush_action_names_ssh_problems(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    sshd: SshServer,
    folders: tuple[Path, Path],
    transport: str,
) -> None:
    """A revoked key and a changed host key are translated errors; nothing moves."""
    pi, _ = folders
    await set_up(hass, inbox_entry)
    fill(pi, 2)
    sshd.authorized_keys.write_text("")
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(DOMAIN, "flush_inbox", {}, blocking=True)
    assert raised.value.translation_key == "ssh_auth"

    hass.config_entries.async_update_entry(
        inbox_entry,
        data={**inbox_entry.data, CONF_SSH_HOST_KEY: PUBLIC_KEY.rsplit(" ", 1)[0]},
    )
    await hass.config_entries.async_reload(inbox_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(DOMAIN, "flush_inbox", {}, blocking=True)
    assert raised.value.translation_key == "ssh_host_key"

    sshd.stop()
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(DOMAIN, "flush_inbox", {}, blocking=True)
    assert raised.value.translation_key == "ssh_unreachable"
    assert len(contents(pi)) == 2


async def test_inbox_step_pins_the_host_key_after_the_key_is_added(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    sshd: SshServer,
    folders: tuple[Path, Path],
) -> None:
    """The flow shows BaluPi's key; the NAS must accept it before the step passes."""
    pi, nas_dir = folders
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    for values in (
        {"nas_url": nas.url, "nas_mac": NAS_MAC, "pi_ip": PI_IP},
        {},
        {},
        {},
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], values
        )
    assert result["step_id"] == "inbox"
    public_key = result["description_placeholders"]["public_key"]
    assert public_key.startswith("ssh-ed25519 ")
    answer = {
        CONF_INBOX_FOLDER: str(pi / "new"),
        CONF_NAS_INBOX_PATH: str(nas_dir),
        CONF_SSH_USER: sshd.user,
        CONF_SSH_PORT: sshd.port,
    }
    for changes, errors in (
        ({}, {"base": "ssh_auth"}),
        ({CONF_INBOX_FOLDER: "relative/inbox"}, {CONF_INBOX_FOLDER: "invalid_folder"}),
        (
            {CONF_NAS_INBOX_PATH: "data/inbox"},
            {CONF_NAS_INBOX_PATH: "invalid_nas_path"},
        ),
        ({CONF_SSH_PORT: 1}, {"base": "ssh_unreachable"}),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**answer, **changes}
        )
        assert result["errors"] == errors
    sshd.authorize(public_key)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**answer, CONF_NAS_INBOX_PATH: str(nas_dir / "missing")}
    )
    assert result["errors"] == {CONF_NAS_INBOX_PATH: "nas_inbox_path"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], answer)
    await hass.async_block_till_done(wait_background_tasks=True)
    data = result["data"]
    assert data[CONF_SSH_HOST_KEY] == sshd.host_key
    assert data[CONF_SSH_PUBLIC_KEY] == public_key
    assert (pi / "new").is_dir()
    assert hass.states.get(INBOX_FILES).state == "0"


async def test_a_flush_that_cannot_run_is_reported_to_the_nas(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    sshd: SshServer,
    folders: tuple[Path, Path],
    hass_client_no_auth: ClientSessionGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    """SSH down at startup: the push is still acknowledged, the files stay."""
    pi, _ = folders
    await set_up(hass, inbox_entry)
    fill(pi, 2)
    sshd.stop()
    client = await hass_client_no_auth()
    reply = await NasPushClient(
        client.session, str(client.make_url("")), SECRET
    ).coming_online()
    assert reply.ok
    assert reply.body is not None
    assert reply.body["inbox_flush"] == "failed"
    assert len(contents(pi)) == 2
    status = await (await (await hass_client()).get("/api/handshake/status")).json()
    assert status["inbox_files"] == 2
    assert status["inbox_size_mb"] == 0.002


async def test_reconfigure_keeps_the_key_the_nas_knows(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    sshd: SshServer,
    folders: tuple[Path, Path],
) -> None:
    """Reconfiguring shows the stored key again, so the NAS needs no new one."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    result = await inbox_entry.start_reconfigure_flow(hass)
    for values in ({"nas_url": inbox_entry.data["nas_url"], "pi_ip": PI_IP}, {}, {}):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], values
        )
    assert result["step_id"] == "inbox"
    assert result["description_placeholders"]["public_key"] == PUBLIC_KEY
    answer = {
        CONF_INBOX_FOLDER: str(pi),
        CONF_NAS_INBOX_PATH: str(nas_dir),
        CONF_SSH_USER: "",
        CONF_SSH_PORT: sshd.port,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], answer)
    assert result["errors"] == {CONF_SSH_USER: "invalid_ssh_user"}
    (pi / "a-file").write_text("not a folder")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**answer, CONF_INBOX_FOLDER: str(pi / "a-file")}
    )
    assert result["errors"] == {CONF_INBOX_FOLDER: "invalid_folder"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**answer, CONF_SSH_USER: sshd.user}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["reason"] == "reconfigure_successful"
    assert inbox_entry.data[CONF_SSH_PRIVATE_KEY] == PRIVATE_KEY


async def test_an_unreadable_inbox_leaves_the_nas_alone(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An inbox that cannot be read: its sensors go unavailable, nothing else.

    Tests run as root, whom file permissions do not stop, so the unreadable folder
    is the one thing here that is simulated.
    """
    await set_up(hass, inbox_entry)
    real_scan = flush.scan_inbox

    def unreadable(folder: Path, watch: inbox.SettleWatch) -> inbox.InboxScan:
        raise inbox.InboxError("inbox folder unreadable: Permission denied")

    monkeypatch.setattr(flush, "scan_inbox", unreadable)
    for _ in range(2):
        await inbox_entry.runtime_data.nas.async_refresh()
    assert hass.states.get(INBOX_FILES).state == "unavailable"
    assert hass.states.get("sensor.baluhost_nas_state").state == "online"
    assert caplog.text.count("Cannot read the inbox folder") == 1

    monkeypatch.setattr(flush, "scan_inbox", real_scan)
    await inbox_entry.runtime_data.nas.async_refresh()
    assert hass.states.get(INBOX_FILES).state == "0"


async def test_a_flush_that_cannot_prepare_is_a_translated_error(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
) -> None:
    """An inbox folder that cannot be created is named in the action's error.

    (Stored that way, it fails the setup: test_init's stored-settings test.)
    """
    pi, _ = folders
    await set_up(hass, inbox_entry)
    pi.rmdir()
    pi.write_text("a file where the inbox folder was")
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(DOMAIN, "flush_inbox", {}, blocking=True)
    assert raised.value.translation_key == "flush_failed"


async def test_removing_the_entry_removes_its_work_files(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
) -> None:
    pi, _ = folders
    await set_up(hass, inbox_entry)
    fill(pi, 1)
    await hass.services.async_call(DOMAIN, "flush_inbox", {}, blocking=True)
    workdir = Path(hass.config.path(".storage", DOMAIN, inbox_entry.entry_id))
    assert is_folder(workdir)
    assert await hass.config_entries.async_remove(inbox_entry.entry_id)
    await hass.async_block_till_done()
    assert not is_folder(workdir)


# -- Settled files go by themselves; a flush never blocks the next -----------------------


async def test_settled_files_go_while_the_nas_is_online(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    transport: str,
) -> None:
    """No push, no action: a file dropped while the NAS is online reaches it."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry, settle_time=1)
    files = fill(pi, 2)
    await inbox_entry.runtime_data.nas.async_refresh()  # a heartbeat sees them
    await hass.async_block_till_done(wait_background_tasks=True)
    assert contents(nas_dir) == {}  # not settled yet
    assert hass.states.get(INBOX_FILES).state == "2"
    # Looked at again the moment they have settled, without another heartbeat.
    await asyncio.sleep(2)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert contents(nas_dir) == files
    assert contents(pi) == {}
    assert hass.states.get(INBOX_FILES).state == "0"


async def test_nothing_goes_to_a_nas_that_is_not_online(
    hass: HomeAssistant,
    nas: BaluHostSimulator,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    client = await hass_client_no_auth()
    push = NasPushClient(client.session, str(client.make_url("")), SECRET)
    assert (await push.going_offline({"version": 1})).ok
    await nas.stop()  # its API is gone; its SSH still answers
    await hass.async_block_till_done(wait_background_tasks=True)
    files = fill(pi, 3)
    for _ in range(2):
        await inbox_entry.runtime_data.nas.async_refresh()
        await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.baluhost_nas_state").state == "shutting_down"
    assert contents(nas_dir) == {}
    await nas.start()
    assert (await push.coming_online()).ok
    await hass.async_block_till_done(wait_background_tasks=True)
    assert contents(nas_dir) == files


async def test_a_stuck_flush_does_not_block_the_next(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    sshd: SshServer,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """A flush that overran its deadline is replaced, not joined forever."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    monkeypatch.setattr(flush, "FLUSH_BUDGET", 3)
    monkeypatch.setattr(flush, "MIN_RATE", 10**12)
    files = fill(pi, 3, 16 * 1024 * 1024)
    flusher = inbox_entry.runtime_data.nas.inbox
    assert flusher is not None
    stuck = flusher.start()
    started = asyncio.get_running_loop().time()
    await wait_for_temp(nas_dir)
    sshd.pause()  # the NAS end of this connection stops answering
    try:
        assert flusher.start() is stuck  # within its deadline: joined
        await asyncio.sleep(started + 3.2 - asyncio.get_running_loop().time())
        fresh = flusher.start()
        assert fresh is not stuck
        result = await asyncio.wait_for(fresh, 60)
    finally:
        sshd.resume()
    await asyncio.wait({stuck}, timeout=10)
    assert stuck.cancelled()
    await hass.async_block_till_done(wait_background_tasks=True)
    # (The stuck upload's temp file stays on the NAS until a later flush finds it
    # a minute old.)
    assert finals(nas_dir) == {name: digest(data) for name, data in files.items()}
    assert contents(pi) == {}
    assert result.failures == ()


async def test_unloading_stops_the_flush_and_loses_nothing(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    transport: str,
) -> None:
    """A reload mid-flush cancels it; every file is whole in the inbox or on the NAS."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    files = fill(pi, 6, 8 * 1024 * 1024)
    flusher = inbox_entry.runtime_data.nas.inbox
    assert flusher is not None
    running = flusher.start()
    await wait_for_temp(nas_dir)
    assert await hass.config_entries.async_unload(inbox_entry.entry_id)
    assert running.done()
    left, sent = (
        contents(pi),
        {name: data for name, data in contents(nas_dir).items() if name in files},
    )
    assert left.keys() | sent.keys() == files.keys()
    for name, data in (left | sent).items():
        assert data == files[name]
    # Nothing hidden is left behind, here or (for longer than a flush) on the NAS.
    assert sorted(path.name for path in pi.iterdir()) == sorted(left)


async def test_a_file_that_stays_is_logged_once(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    fill(pi, 1)
    (nas_dir / "scan 000.pdf").write_bytes(b"the NAS's own file")
    for _ in range(3):
        await hass.services.async_call(DOMAIN, "flush_inbox", {}, blocking=True)
    assert caplog.text.count("Inbox file scan 000.pdf stays on the Pi") == 1


async def test_a_reload_never_runs_two_flushes_on_one_folder(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flush of the entry before a reload still puts its files back after the
    unload stopped waiting for it (Home Assistant waits 10 s): the reloaded entry's
    flush waits for it instead of running beside it on the same folder.

    The transfer is a stand-in whose clean-up after the cancel takes as long as the
    test says; the flushers, the entry and the reload are real.
    """
    pi, _ = folders
    await set_up(hass, inbox_entry)
    fill(pi, 1)
    running, most, calls = 0, 0, 0
    cleaned_up = asyncio.Event()

    async def transfer(folder: Path, *args: Any, **kwargs: Any) -> inbox.FlushResult:
        nonlocal running, most, calls
        running, calls = running + 1, calls + 1
        most = max(most, running)
        try:
            if calls == 1:
                await asyncio.Event().wait()  # until the unload cancels it
            return inbox.FlushResult("sftp", 0, 0, (), inbox.InboxContent(0, 0))
        finally:
            if calls == 1:
                await cleaned_up.wait()  # files going back, slowly
            running -= 1

    monkeypatch.setattr(flush, "flush_inbox", transfer)
    old = inbox_entry.runtime_data.nas.inbox
    assert old is not None
    before = old.start()
    await asyncio.sleep(0.1)
    assert running == 1
    assert await hass.config_entries.async_reload(inbox_entry.entry_id)
    assert not before.done(), "still cleaning up after the unload stopped waiting"
    new = inbox_entry.runtime_data.nas.inbox
    assert new is not None
    assert new is not old
    after = new.start()
    await asyncio.sleep(0.2)
    assert (running, calls) == (1, 1), "the new flush waits for the old one"
    cleaned_up.set()
    await asyncio.wait_for(after, 10)
    assert before.cancelled()
    assert (most, calls) == (1, 2)


async def test_a_flush_waits_for_the_folder_only_so_long(
    hass: HomeAssistant,
    inbox_entry: MockConfigEntry,
    sshd: SshServer,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While another flush holds the folder past the bound, this one gives up with a
    clear error (retried later) instead of waiting for ever; it touches nothing."""
    pi, nas_dir = folders
    await set_up(hass, inbox_entry)
    files = fill(pi, 2)
    monkeypatch.setattr(flush, "STUCK_GRACE", 0.3)
    flusher = inbox_entry.runtime_data.nas.inbox
    assert flusher is not None
    lock = hass.data[flush.DATA_FOLDER_LOCKS][str(flusher.folder)]
    await lock.acquire()  # a flush that never finishes putting its files back
    try:
        with pytest.raises(inbox.InboxError, match="has not put its files back"):
            await asyncio.wait_for(flusher.start(), 10)
    finally:
        lock.release()
    assert sorted(p.name for p in pi.iterdir()) == sorted(files)
    assert not finals(nas_dir)
    result = await asyncio.wait_for(flusher.start(), 60)  # the folder is free again
    assert result.files_transferred == len(files)
