"""`create_backup`: the PBX's backup saved whole under the config directory,
private, the newest N kept, the Last backup sensor; errors leave no file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import errno
import os
from pathlib import Path
import stat
from typing import Any
from unittest.mock import patch

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.backup_files import (
    backup_extension,
    safe_directory_name,
)
from custom_components.kalliopepbx.backups import human_size
from custom_components.kalliopepbx.const import CONF_BACKUPS_TO_KEEP
from simulator import PbxState
from simulator.backup import CHUNK_BYTES, backup_chunks
from tests.api.test_client_backup import BackupChecker, RssMeter

from .conftest import PBX_ID, call_action, open_options
from .lock_helpers import forwarding_change_held, let_others_run
from .reference_pbx import ReferencePbx, fixture_bytes

SENSOR = "sensor.kalliopepbx_office_last_backup"
BACKUP_PATH = "/system/backup/create"


@pytest.fixture(autouse=True)
def platform() -> Iterator[None]:
    """The sensor platform only."""
    with patch("custom_components.kalliopepbx.PLATFORMS", [Platform.SENSOR]):
        yield


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A config directory of the test's own, set before the entry is."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


def backups_dir(config_dir: Path) -> Path:
    return config_dir / "kalliopepbx" / "backups" / PBX_ID


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def backup(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await call_action(hass, "create_backup", data, response=True)
    assert isinstance(response, dict)
    return response


@pytest.mark.usefixtures("init_integration")
async def test_a_backup_is_saved_private_and_shown(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The PBX's bytes, whole, under `<config>/kalliopepbx/backups/<pbx>/`,
    named by local time, readable by Home Assistant only; the sensor shows it."""
    await hass.config.async_set_time_zone("Europe/Rome")
    freezer.move_to("2026-12-02T02:15:00+00:00")
    pbx_state.set_backup(size=300_001)
    assert hass.states.get(SENSOR).state == STATE_UNKNOWN

    response = await backup(hass, description="Before the upgrade", phonebook=True)

    directory = backups_dir(config_dir)
    path = directory / "20261202-031500.tgz"
    assert response == {
        "path": str(path),
        "size": 300_001,
        "filename": "20261202-031500.tgz",
    }
    assert path.read_bytes() == b"".join(backup_chunks(300_001))
    assert listing(directory) == ["20261202-031500.tgz"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert pbx_state.backups_created == 1

    state = hass.states.get(SENSOR)
    finished = dt_util.parse_datetime(state.state)
    assert finished is not None
    assert finished.timestamp() == int(path.stat().st_mtime)
    assert state.attributes["size"] == 300_001
    assert state.attributes["size_text"] == "293.0 KiB"
    assert state.attributes["path"] == str(path)

    # Without asking for the answer, it still runs.
    freezer.tick(60)
    assert await call_action(hass, "create_backup", {}) is None
    assert listing(directory) == ["20261202-031500.tgz", "20261202-031600.tgz"]


@pytest.mark.parametrize("entry_options", [{CONF_BACKUPS_TO_KEEP: 2}])
async def test_only_the_newest_of_ours_are_kept(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    config_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Older backups beyond the option go; files that are not ours stay, and a
    second backup in the same second gets a name of its own."""
    await hass.config.async_set_time_zone("UTC")
    directory = backups_dir(config_dir)
    directory.mkdir(parents=True)
    others = ["notes.txt", "20200101-000000.tgz.keep", "manual-backup.tgz", "x.part"]
    for name in others:
        (directory / name).write_text("mine")
    (directory / "20200101-000000.tgz").write_bytes(b"old")
    # Left by a backup cut short when Home Assistant stopped.
    (directory / "20201231-235959.part").write_bytes(b"half")

    freezer.move_to("2026-12-02T03:00:00+00:00")
    first = await backup(hass)
    second = await backup(hass)
    assert (first["filename"], second["filename"]) == (
        "20261202-030000.tgz",
        "20261202-030000-1.tgz",
    )
    assert listing(directory) == sorted(
        [*others, "20261202-030000.tgz", "20261202-030000-1.tgz"]
    )
    freezer.tick(3600)
    await backup(hass)
    assert listing(directory) == sorted(
        [*others, "20261202-030000-1.tgz", "20261202-040000.tgz"]
    )


async def test_the_sensor_shows_what_the_disk_holds_after_a_restart(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    config_dir: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Read from the newest file at setup: a backup deleted by hand is not shown."""
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to("2026-12-02T03:00:00+00:00")
    older = await backup(hass)
    freezer.tick(3600)
    newer = await backup(hass)
    os.utime(older["path"], (1_700_000_000, 1_700_000_000))

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR).attributes["path"] == newer["path"]

    Path(newer["path"]).unlink()
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(SENSOR)
    assert state.attributes["path"] == older["path"]
    assert dt_util.parse_datetime(state.state) == dt_util.utc_from_timestamp(
        1_700_000_000
    )


@pytest.mark.usefixtures("init_integration")
async def test_a_big_backup_keeps_memory_flat(
    hass: HomeAssistant, pbx_state: PbxState, config_dir: Path
) -> None:
    """200 MB through Home Assistant: streamed to disk, never held whole."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc")
    size = 200 * 1024 * 1024
    pbx_state.set_backup(size=size)
    meter = RssMeter()
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            meter.sample()
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        response = await backup(hass)
    finally:
        done.set()
        await sampler
    growth = meter.growth_mib
    path = Path(response["path"])
    assert response["size"] == size == path.stat().st_size
    assert holds_the_simulated_backup(path, size)
    print(f"200 MB backup through Home Assistant: peak RSS growth {growth:.1f} MiB")
    assert growth < 30, f"peak RSS grew {growth:.1f} MiB"


def holds_the_simulated_backup(path: Path, size: int) -> bool:
    """Compared block by block: the test itself must not hold the file."""
    checker = BackupChecker(size)
    with path.open("rb") as file:
        while piece := file.read(1024 * 1024):
            checker.feed(piece)
    return checker.intact()


def xml_error(fixture: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(
            body=fixture_bytes(fixture), headers={"Content-Type": "text/xml"}
        )

    return handler


@pytest.mark.parametrize(
    ("fixture", "code", "message"),
    [
        ("backup_error_10.xml", "10", "Invalid backup request"),
        ("backup_error_11.xml", "11", "Backup not created"),
        ("backup_error_12.xml", "12", "One or more required field missing"),
    ],
)
@pytest.mark.usefixtures("reference_integration")
async def test_a_pbx_error_is_told_and_leaves_no_file(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    config_dir: Path,
    fixture: str,
    code: str,
    message: str,
) -> None:
    """The reference's error answers: translated, and nothing on disk."""
    reference_pbx.handle(BACKUP_PATH, xml_error(fixture))
    with pytest.raises(HomeAssistantError) as err:
        await backup(hass)
    assert err.value.translation_key == "backup_failed"
    assert err.value.translation_placeholders == {"code": code, "message": message}
    assert listing(backups_dir(config_dir)) == []
    assert reference_pbx.seen("POST", BACKUP_PATH)


@pytest.mark.usefixtures("init_integration")
async def test_a_simulated_pbx_error_leaves_no_file(
    hass: HomeAssistant, pbx_state: PbxState, config_dir: Path
) -> None:
    """Error 11 (out of memory on the PBX), even with a file's content type."""
    pbx_state.set_backup(error=11, error_content_type="application/octet-stream")
    with pytest.raises(HomeAssistantError) as err:
        await backup(hass)
    assert err.value.translation_key == "backup_failed"
    assert listing(backups_dir(config_dir)) == []
    assert hass.states.get(SENSOR).state == STATE_UNKNOWN


@pytest.mark.usefixtures("init_integration")
async def test_the_pbx_may_take_longer_than_the_timeout_to_build_it(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    config_dir: Path,
) -> None:
    """A big backup is built whole before its first byte: that wait is not
    the request timeout."""
    config_entry.runtime_data.client._timeout = 0.5
    pbx_state.set_backup(size=300_001, delay_s=1.5)
    response = await backup(hass)
    assert Path(response["path"]).read_bytes() == b"".join(backup_chunks(300_001))


@pytest.mark.usefixtures("init_integration")
async def test_a_pbx_that_never_starts_answering_leaves_no_file(
    hass: HomeAssistant, pbx_state: PbxState, config_dir: Path
) -> None:
    """Past the first-byte wait: the usual connection error, the `.part` gone."""
    pbx_state.set_backup(delay_s=30)
    directory = backups_dir(config_dir)
    with patch("custom_components.kalliopepbx.backups.BACKUP_FIRST_BYTE_TIMEOUT", 2):
        task = hass.async_create_task(backup(hass))
        await asyncio.sleep(0.5)
        # Waiting for the first byte, with its file open.
        assert any(name.endswith(".part") for name in listing(directory))
        with pytest.raises(HomeAssistantError) as err:
            await task
    assert err.value.translation_key == "cannot_connect"
    assert listing(directory) == []
    assert hass.states.get(SENSOR).state == STATE_UNKNOWN


class FullDisk:
    """A file that fills the disk after `room` bytes."""

    def __init__(self, file: Any, room: int) -> None:
        self.file = file
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return int(self.file.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


def disk_full_after(room: int) -> Any:
    real = os.fdopen

    def fdopen(fd: int, mode: str) -> FullDisk:
        return FullDisk(real(fd, mode), room)

    return patch("custom_components.kalliopepbx.backup_files.os.fdopen", fdopen)


def refuse(target: str, error: int) -> Any:
    return patch(target, side_effect=OSError(error, os.strerror(error)))


@pytest.mark.parametrize(
    ("trouble", "error"),
    [
        (lambda: disk_full_after(200_000), "No space left on device"),
        (
            lambda: refuse(
                "custom_components.kalliopepbx.backup_files.os.open", errno.EACCES
            ),
            "Permission denied",
        ),
        (
            lambda: refuse("pathlib.Path.rename", errno.EACCES),
            "Permission denied",
        ),
    ],
    ids=["disk_full_mid_way", "cannot_create", "cannot_rename"],
)
@pytest.mark.usefixtures("init_integration")
async def test_a_disk_error_is_told_and_leaves_no_file(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_dir: Path,
    trouble: Any,
    error: str,
) -> None:
    """No space, no permission: translated, no partial file, the lock free."""
    pbx_state.set_backup(size=500_000)
    with trouble(), pytest.raises(HomeAssistantError) as err:
        await backup(hass)
    assert err.value.translation_key == "backup_write_failed"
    assert err.value.translation_placeholders == {"error": error}
    assert listing(backups_dir(config_dir)) == []
    assert hass.states.get(SENSOR).state == STATE_UNKNOWN
    # Nothing held: the next backup works.
    assert (await backup(hass))["size"] == 500_000


@pytest.mark.usefixtures("init_integration")
async def test_a_backup_cut_short_leaves_no_file(
    hass: HomeAssistant, pbx_state: PbxState, config_dir: Path
) -> None:
    """Cancelled mid-way (Home Assistant stopping): the `.part` file goes too."""
    pbx_state.set_backup(size=50_000_000)
    wrote = asyncio.Event()
    real = os.fdopen

    class Slow(FullDisk):
        def write(self, data: bytes) -> int:
            hass.loop.call_soon_threadsafe(wrote.set)
            return super().write(data)

    def fdopen(fd: int, mode: str) -> Slow:
        return Slow(real(fd, mode), 1 << 40)

    with patch("custom_components.kalliopepbx.backup_files.os.fdopen", fdopen):
        task = hass.async_create_task(backup(hass))
        await wrote.wait()
        assert any(name.endswith(".part") for name in listing(backups_dir(config_dir)))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await hass.async_block_till_done()
    assert listing(backups_dir(config_dir)) == []


@pytest.mark.usefixtures("init_integration")
async def test_non_admin_is_refused(
    hass: HomeAssistant,
    pbx_state: PbxState,
    hass_read_only_user: User,
    config_dir: Path,
) -> None:
    """The backup holds every password of the PBX: administrators only."""
    with pytest.raises(Unauthorized):
        await call_action(
            hass,
            "create_backup",
            {},
            context=Context(user_id=hass_read_only_user.id),
            response=True,
        )
    assert pbx_state.backups_created == 0
    assert listing(backups_dir(config_dir)) == []


async def test_backups_to_keep_is_an_option(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Offered with 7 by default, and stored as a whole number."""
    form = await open_options(hass, init_integration.entry_id)
    schema = form["data_schema"].schema
    key = next(k for k in schema if k == CONF_BACKUPS_TO_KEEP)
    assert key.default() == 7
    result = await hass.config_entries.options.async_configure(
        form["flow_id"], {"voicemail_sensors": True, CONF_BACKUPS_TO_KEEP: 30.0}
    )
    await hass.async_block_till_done()
    assert result["type"] == "create_entry"
    assert init_integration.options[CONF_BACKUPS_TO_KEEP] == 30


@pytest.mark.usefixtures("init_integration")
async def test_a_backup_waits_for_a_configuration_change(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """Never between a change's write and its apply: it would hold half of it."""
    pbx_state.set_pending(False)
    client = config_entry.runtime_data.client
    async with forwarding_change_held(
        hass, client, record=("apply", "create_backup")
    ) as held:
        backing_up = hass.async_create_task(backup(hass))
        await let_others_run()
        assert held.order == ["set_failover"]
        await held.finish(backing_up)
    assert held.order == ["set_failover", "apply", "create_backup"]


async def slow_backup_under_way(
    hass: HomeAssistant, pbx_state: PbxState, directory: Path, seconds: float
) -> asyncio.Task[dict[str, Any]]:
    """A backup streaming for about `seconds`, once its first bytes are on disk."""
    chunks = 20
    pbx_state.set_backup(size=chunks * CHUNK_BYTES, chunk_delay_s=seconds / chunks)
    task = hass.async_create_task(backup(hass))
    for _ in range(100):
        await asyncio.sleep(0.05)
        parts = [p for p in directory.glob("*.part") if p.stat().st_size]
        if parts:
            return task
    raise AssertionError("the backup did not start")


@pytest.mark.parametrize(
    ("action", "power"), [("shutdown_pbx", "halted"), ("restart_pbx", "restarting")]
)
@pytest.mark.usefixtures("init_integration")
async def test_a_shutdown_stops_a_running_backup(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    config_dir: Path,
    action: str,
    power: str,
) -> None:
    """A UPS running low cannot wait minutes behind a nightly backup: the
    backup is stopped, its partial file deleted, and its caller told why."""
    pbx_state.set_pending(False)
    directory = backups_dir(config_dir)
    backing_up = await slow_backup_under_way(hass, pbx_state, directory, 20)

    started = asyncio.get_running_loop().time()
    await call_action(hass, action, {})
    assert asyncio.get_running_loop().time() - started < 5
    assert pbx_state.power() == power

    with pytest.raises(HomeAssistantError) as err:
        await backing_up
    assert err.value.translation_key == "backup_stopped"
    assert listing(directory) == []
    assert hass.states.get(SENSOR).state == STATE_UNKNOWN
    assert not config_entry.runtime_data.changes.lock.locked()


@pytest.mark.usefixtures("init_integration")
async def test_a_backup_waiting_for_the_lock_gives_way_to_a_shutdown(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    config_dir: Path,
) -> None:
    """Queued before the shutdown behind a configuration change: it does not
    start once the change is done, the shutdown goes first."""
    pbx_state.set_pending(False)
    client = config_entry.runtime_data.client
    async with forwarding_change_held(
        hass, client, record=("apply", "create_backup", "halt_system")
    ) as held:
        backing_up = hass.async_create_task(backup(hass))
        await let_others_run()
        shutting_down = hass.async_create_task(call_action(hass, "shutdown_pbx", {}))
        await let_others_run()
        await held.finish(shutting_down)
    with pytest.raises(HomeAssistantError) as err:
        await backing_up
    assert err.value.translation_key == "backup_stopped"
    assert held.order == ["set_failover", "apply", "halt_system"]
    assert pbx_state.backups_created == 0
    assert listing(backups_dir(config_dir)) == []


@pytest.mark.usefixtures("init_integration")
async def test_a_configuration_change_waits_for_a_running_backup(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    config_dir: Path,
) -> None:
    """Only restart and shutdown stop a backup: a change waits for it whole."""
    pbx_state.set_pending(False)
    directory = backups_dir(config_dir)
    backing_up = await slow_backup_under_way(hass, pbx_state, directory, 2)
    forwarding = hass.async_create_task(
        call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    )
    await let_others_run()
    assert not forwarding.done()
    assert pbx_state.get_failover("201")["value"] != "205"

    response = await backing_up
    assert holds_the_simulated_backup(Path(response["path"]), 20 * CHUNK_BYTES)
    await forwarding
    assert pbx_state.get_failover("201")["value"] == "205"


@pytest.mark.parametrize(
    ("pbx_id", "directory"),
    [
        ("KPBX-SIM-0001", "KPBX-SIM-0001"),
        ("../../etc", "etc"),
        ("a b/c\\d:e", "a_b_c_d_e"),
        ("..", "pbx"),
    ],
)
def test_the_pbx_directory_is_one_safe_name(pbx_id: str, directory: str) -> None:
    assert safe_directory_name(pbx_id) == directory


@pytest.mark.parametrize(
    ("filename", "content_type", "extension"),
    [
        ("kalliopepbx-backup.tgz", "application/octet-stream", "tgz"),
        ("backup.TAR.GZ", None, "tar.gz"),
        ("x.zip", None, "zip"),
        ("../../.bashrc", "application/octet-stream", "bin"),
        ("evil.sh", "application/gzip", "gz"),
        (None, "application/zip; charset=binary", "zip"),
        (None, None, "bin"),
    ],
)
def test_the_extension_is_a_known_one(
    filename: str | None, content_type: str | None, extension: str
) -> None:
    """The PBX's name chooses among safe extensions; it is never a path."""
    assert backup_extension(filename, content_type) == extension


@pytest.mark.usefixtures("init_integration")
async def test_cleanup_trouble_is_logged_not_raised(
    hass: HomeAssistant, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Old backups that cannot be deleted do not undo the new one; a partial
    file that cannot be deleted does not hide why the backup failed."""
    with patch(
        "custom_components.kalliopepbx.backups.prune",
        side_effect=OSError(errno.EACCES, "Permission denied"),
    ):
        response = await backup(hass)
    assert Path(response["path"]).exists()
    assert "old backups not deleted" in caplog.text

    with (
        disk_full_after(0),
        patch(
            "custom_components.kalliopepbx.backups.discard",
            side_effect=OSError(errno.EACCES, "Permission denied"),
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await backup(hass)
    assert err.value.translation_key == "backup_write_failed"
    assert "not deleted" in caplog.text.split("old backups not deleted")[-1]


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (64 * 2**20, "64.0 MiB"),
        (3 * 2**40, "3072.0 GiB"),
    ],
)
def test_size_shown_to_people(size: int, shown: str) -> None:
    """The Last backup sensor's `size_text`."""
    assert human_size(size) == shown
