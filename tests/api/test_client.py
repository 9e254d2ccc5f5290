"""KalliopeClient over real HTTP against the simulator on 127.0.0.1: every
method's answer matches the simulated PBX, and every write changes it.

Transport and error paths are in test_client_errors.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import re

import aiohttp
import pytest

from custom_components.kalliopepbx.api import (
    AuthScheme,
    BasicCredentials,
    CallDirection,
    CallStatus,
    CdrFilter,
    CdrQuery,
    Click2CallType,
    ContactInput,
    ContactType,
    DigestCredentials,
    Failover,
    FailoverType,
    FirmwareSlot,
    FirmwareUpdateStatus,
    GatewayType,
    KalliopeApiError,
    KalliopeAuthError,
    KalliopeClient,
    KalliopeClockSkewError,
    KalliopeInputError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    LicenseStatus,
    PhonebookFilter,
    RegistrationStatus,
    UserUpdate,
    credentials_from_dict,
    md5_hex,
)
from simulator import PbxState, RunningSimulator
from simulator.state import Extension

from .conftest import credentials_for

V4_DEMO = {"extensions": 12, "scenario": "demo", "auth": "v4", "domain": "tenant1"}


def make_client(
    session: aiohttp.ClientSession, sim: RunningSimulator, **kwargs: object
) -> KalliopeClient:
    """A client pointing at `sim`; keyword arguments override the defaults."""
    options: dict[str, object] = {"port": sim.port, "timeout": 5}
    options.update(kwargs)
    return KalliopeClient(session, sim.host, **options)  # type: ignore[arg-type]


def pending(state: PbxState) -> bool:
    """Whether the simulated PBX holds unapplied changes (read afresh)."""
    return state.pending


def extension(state: PbxState, exten: str) -> Extension:
    """An extension of the simulated PBX as it is now."""
    return state.extensions[exten]


def pbx_local(state: PbxState, moment: datetime) -> datetime:
    """A simulator time as the PBX reports it: naive local time, whole seconds."""
    return moment.astimezone(state.tz).replace(tzinfo=None, microsecond=0)


# ---------------------------------------------------------------- authentication


async def test_v3_detect_derive_and_use_credentials(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    state = simulator.state
    anonymous = make_client(session, simulator)
    detection = await anonymous.detect()
    assert detection.scheme is AuthScheme.V3_BASIC
    assert detection.salt is None
    # Without credentials nothing authenticated is sent.
    before = dict(state.counters)
    with pytest.raises(KalliopeAuthError, match="no credentials"):
        await anonymous.firmware()
    assert dict(state.counters) == before

    credentials = detection.credentials("admin")
    assert isinstance(credentials, BasicCredentials)
    assert credentials.password_md5 == state.api_password
    anonymous.credentials = credentials
    assert (await anonymous.firmware()).primary == state.firmware_primary

    # What a config entry stores rebuilds working credentials.
    stored = make_client(
        session, simulator, credentials=credentials_from_dict(credentials.as_dict())
    )
    assert (await stored.firmware()).primary == state.firmware_primary

    wrong = make_client(
        session, simulator, credentials=BasicCredentials.from_password("nimda")
    )
    with pytest.raises(KalliopeAuthError) as err:
        await wrong.registrations()
    assert type(err.value) is KalliopeAuthError
    assert "GET /users/registrations/" in str(err.value)

    # The admin changes the password: the stored secret stops working.
    state.set_password("changed")
    with pytest.raises(KalliopeAuthError):
        await stored.firmware()


@pytest.mark.parametrize("scenario", [V4_DEMO])
async def test_v4_detect_derive_and_use_credentials(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    state = simulator.state
    anonymous = make_client(session, simulator)
    detection = await anonymous.detect("tenant1")
    assert detection.scheme is AuthScheme.V4_DIGEST
    assert detection.salt == state.salt
    assert state.counters["GET /salt/{domain}"] == 1

    credentials = detection.credentials("admin", domain="tenant1")
    assert isinstance(credentials, DigestCredentials)
    assert credentials.password_digest == state.digest_password
    assert credentials.domain == "tenant1"
    client = make_client(session, simulator, credentials=credentials)
    # Every request carries a fresh single-use nonce: repeated calls all pass.
    for _ in range(3):
        assert (await client.firmware()).primary == state.firmware_primary
    assert state.counters["GET /system/firmware"] == 3
    assert len(state.used_nonces) == 3

    stored = make_client(
        session, simulator, credentials=credentials_from_dict(credentials.as_dict())
    )
    assert await stored.serial_number() == state.serial

    # A tenant the PBX does not know offers no salt: treated as 3.x.
    assert (await anonymous.detect("nosuchtenant")).scheme is AuthScheme.V3_BASIC

    wrong = make_client(
        session,
        simulator,
        credentials=DigestCredentials.from_password(
            "nimda", state.salt, domain="tenant1"
        ),
    )
    with pytest.raises(KalliopeAuthError) as err:
        await wrong.registrations()
    # The clocks agree, so a refusal is a wrong password, not a clock problem.
    assert type(err.value) is KalliopeAuthError

    wrong_domain = make_client(session, simulator, credentials=credentials_for(state))
    wrong_domain.credentials = DigestCredentials(
        username="admin",
        domain="default",
        salt=state.salt,
        password_digest=state.digest_password,
    )
    with pytest.raises(KalliopeAuthError):
        await wrong_domain.firmware()


@pytest.mark.parametrize("scenario", [V4_DEMO])
@pytest.mark.parametrize("offset", [600, -900])
async def test_v4_clock_skew_is_told_apart_from_a_wrong_password(
    client: KalliopeClient, simulator: RunningSimulator, offset: int
) -> None:
    state = simulator.state
    state.set_clock_offset(offset)
    with pytest.raises(KalliopeClockSkewError) as err:
        await client.registrations()
    assert isinstance(err.value, KalliopeAuthError)
    assert err.value.skew_seconds == pytest.approx(offset, abs=5)
    shown = re.search(r"by ([+-]\d+) s", str(err.value))
    assert shown is not None
    assert int(shown.group(1)) == pytest.approx(offset, abs=5)

    # Within five minutes the PBX accepts the request.
    state.set_clock_offset(120)
    assert await client.registrations()


@pytest.mark.parametrize("scenario", [V4_DEMO])
async def test_v4_clock_of_our_side_is_used_for_created_and_skew(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    from datetime import UTC

    late = make_client(
        session,
        simulator,
        credentials=credentials_for(simulator.state),
        clock=lambda: datetime.now(UTC) - timedelta(minutes=10),
    )
    with pytest.raises(KalliopeClockSkewError) as err:
        await late.firmware()
    assert err.value.skew_seconds == pytest.approx(600, abs=5)


# ---------------------------------------------------------------- users


async def test_registrations_match_the_pbx(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    found = await client.registrations()
    enabled = [e for e in state.sorted_extens() if state.extensions[e].enabled]
    assert [r.exten for r in found] == enabled
    for registration in found:
        truth = state.registrations[registration.exten]
        assert registration.status_raw == truth.status
        assert registration.status.value == truth.status.lower()
        assert registration.registered is (truth.status == "OK")
        assert registration.rtt_ms == truth.rtt_ms
        assert registration.ip == (truth.ip or None)
        assert registration.port == (int(truth.port) if truth.port else None)
        assert registration.contact == (truth.contact or None)
        assert registration.user_agent == (truth.useragent or None)

    one = await client.registration("205")
    assert one is not None
    assert one.status is RegistrationStatus.UNREACHABLE
    state.set_registration("205", "OK", rtt_ms=42, port=5062)
    one = await client.registration("205")
    assert one is not None
    assert one.registered
    assert one.rtt_ms == 42.0
    assert one.port == 5062
    assert await client.registration("999") is None


async def test_users_brief_and_configs_match_the_pbx(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    brief = await client.users_brief()
    assert [(u.exten, u.first_name, u.last_name, u.enabled) for u in brief] == [
        (e.exten, e.first_name, e.last_name, e.enabled)
        for e in (state.extensions[x] for x in state.sorted_extens())
    ]
    one = await client.user_brief("211")
    assert one is not None
    assert one.name == "Niccolò Lucà"
    assert await client.user_brief("999") is None

    configs = await client.users_configs()
    assert len(configs) == len(state.extensions)
    for config in configs:
        truth = state.extensions[config.exten]
        assert config.vm_enabled is truth.vm_enabled
        assert config.vm_email == (truth.vm_email or None)
        assert config.vm_attach_enabled is truth.vm_attach_enabled
        assert config.phonebook_manager is truth.phonebook_manager
        assert config.failover is not None
        assert config.failover.type.value == truth.failover.type
        # The PBX sends the SIP, voicemail and web secrets; none is kept.
        for secret in (truth.sip_secret, truth.gui_secret_md5):
            assert secret not in repr(config)

    ceo = await client.user_config("208")
    assert ceo is not None
    assert ceo.name == "Alessandro Romano"
    assert ceo.failover == Failover(
        type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER,
        destination="3479876543",
        gateway_type=GatewayType.TRUNK,
        gateway_id="2",
        gateway_name="VoIP Trunk Messagenet",
        type_raw="FORWARD_TO_EXTERNAL_NUMBER",
    )
    assert ceo.failover.forwards_to_number
    # The demo's uncommitted change: 203 forwards to 202 (shown by name).
    marco = await client.user_config("203")
    assert marco is not None
    assert marco.failover is not None
    assert marco.failover.type is FailoverType.FORWARD_TO_EXTEN
    assert (marco.failover.destination, marco.failover.destination_name) == (
        "202",
        "Giulia Rossi",
    )
    assert await client.user_config("999") is None


async def test_update_user_config_pending_apply_revert(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    assert await client.pending() is True  # the demo starts with a change
    assert await client.apply() is True
    assert not pending(state)
    assert await client.pending() is False

    await client.update_user_config(
        "202",
        UserUpdate(first_name="Giulia Maria", vm_email="g.rossi@example.it"),
        request_id="upd-1",
    )
    assert state.extensions["202"].first_name == "Giulia Maria"
    assert state.extensions["202"].vm_email == "g.rossi@example.it"
    assert state.extensions["202"].last_name == "Rossi"  # untouched
    assert pending(state)
    assert await client.pending() is True
    assert await client.apply() is True
    assert state.committed_extensions["202"].first_name == "Giulia Maria"
    assert await client.pending() is False

    await client.update_user_config("202", UserUpdate(vm_attach_enabled=True))
    assert extension(state, "202").vm_attach_enabled
    assert await client.revert() is True
    assert not extension(state, "202").vm_attach_enabled
    assert not pending(state)


async def test_set_failover(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    mobile = Failover(
        type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER,
        destination="3331234567",
        gateway_type=GatewayType.GATEWAY,
        gateway_id="1",
    )
    await client.set_failover("202", mobile)
    saved = state.extensions["202"].failover
    assert (saved.type, saved.value, saved.gateway_type, saved.gateway_id) == (
        "FORWARD_TO_EXTERNAL_NUMBER",
        "3331234567",
        "GATEWAY",
        "1",
    )
    assert state.pending is True
    read_back = await client.user_config("202")
    assert read_back is not None
    assert read_back.failover is not None
    assert read_back.failover.gateway_name == "PRI Telecom"

    # The PBX refuses a forward to the extension itself (code 14) ...
    with pytest.raises(KalliopeApiError) as err:
        await client.set_failover(
            "202", Failover(FailoverType.FORWARD_TO_EXTEN, destination="202")
        )
    assert err.value.code == 14
    assert err.value.endpoint == "PUT /users/configs/{exten}"
    assert state.extensions["202"].failover == saved
    # ... and an extension it does not have (code 15).
    with pytest.raises(KalliopeApiError) as err:
        await client.set_failover("299", Failover(FailoverType.HANGUP))
    assert err.value.code == 15

    await client.set_failover("202", Failover(FailoverType.HANGUP))
    assert state.extensions["202"].failover.type == "HANGUP"

    with pytest.raises(KalliopeInputError):
        await client.update_user_config("202", UserUpdate())


async def test_voicemail_count(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    count = await client.voicemail_count("204")
    assert (count.mailbox, count.new, count.urgent, count.old) == ("204", 5, 1, 12)
    simulator.state.set_voicemail("204", new=0, urgent=0, old=18)
    count = await client.voicemail_count("204")
    assert (count.new, count.urgent, count.old) == (0, 0, 18)
    # An empty list: nothing in the mailbox (the answer cannot tell it from none).
    count = await client.voicemail_count("201")
    assert (count.mailbox, count.new, count.urgent, count.old) == ("201", 0, 0, 0)


# ---------------------------------------------------------------- system


async def test_firmware_and_update_status(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    firmware = await client.firmware()
    assert firmware.primary == state.firmware_primary
    assert firmware.secondary == state.firmware_secondary
    assert firmware.running is FirmwareSlot.PRIMARY
    assert firmware.running_version == state.firmware_primary
    state.firmware_running = "secondary"
    firmware = await client.firmware()
    assert firmware.running_version == state.firmware_secondary

    update = await client.firmware_update_status()
    assert (update.status, update.code) == (FirmwareUpdateStatus.IDLE, 25)
    state.set_update_status(27)
    update = await client.firmware_update_status()
    assert update.status is FirmwareUpdateStatus.DOWNLOADING
    assert update.message


async def test_license_states(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    info = await client.license()
    assert info.status is LicenseStatus.ACTIVE
    assert info.licensed_extensions == state.licensed_exten
    state.set_license("EXPIRED", licensed_exten=25)
    info = await client.license()  # answered whatever the licence
    assert (info.status, info.licensed_extensions) == (LicenseStatus.EXPIRED, 25)
    assert not info.status.allows_api
    state.set_license("NOT_REQUIRED")  # the PBX answers error 10
    info = await client.license()
    assert info.status is LicenseStatus.NOT_REQUIRED
    assert info.status.allows_api
    state.set_license("MISSING")  # error 11
    assert (await client.license()).status is LicenseStatus.MISSING
    # The reference's first spelling works: the other two were never tried.
    assert set(state.counters) == {"GET /license/pxbinstance"}


@pytest.mark.parametrize(
    ("status", "code"), [("MISSING", 1), ("EXPIRED", 2), ("DISABLED", 3)]
)
async def test_licence_refusal(
    client: KalliopeClient, simulator: RunningSimulator, status: str, code: int
) -> None:
    simulator.state.set_license(status)
    with pytest.raises(KalliopeLicenseError) as err:
        await client.registrations(request_id="lic-1")
    assert err.value.code == code
    assert err.value.endpoint == "GET /users/registrations/"
    assert err.value.message
    with pytest.raises(KalliopeLicenseError):
        await client.click2call("202", "203")
    assert simulator.state.placed_calls == []
    # Applying is exempt from the licence check.
    assert await client.apply() is True


async def test_license_path_fallback(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    state.disable_endpoint("/license/")
    with pytest.raises(KalliopeNotSupportedError) as err:
        await client.license()
    assert err.value.endpoint == "GET /license/pbxinstance"
    # Every spelling of the reference was tried once.
    assert sum(k.startswith("GET /license/") for k in state.counters) == 3
    state.enable_endpoint("/license/")
    state.reset_counters()
    assert (await client.license()).status is LicenseStatus.ACTIVE
    assert (await client.license()).status is LicenseStatus.ACTIVE
    assert dict(state.counters) == {"GET /license/pxbinstance": 2}


async def test_engine_reload_and_restart(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    assert await client.reload_pbx_engine() is True
    assert await client.reload_pbx_engine(request_id="reload-2") is True
    assert (state.reload_count, state.restart_count) == (2, 0)
    assert await client.restart_pbx_engine() is True
    assert (state.reload_count, state.restart_count) == (2, 1)
    assert state.counters["PUT /system/pbxengine/reload"] == 2
    assert state.counters["PUT /system/pbxengine/restart"] == 1


async def test_serial_number_only_on_4x(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    assert await client.serial_number() is None  # 3.x has no dashboard
    assert simulator.state.counters["GET /dashboard/serialNumber"] == 1


# ---------------------------------------------------------------- pbx


async def test_callgroups_and_conferences(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    groups = await client.callgroups()
    assert [g.id for g in groups] == ["incoming", "1", "2"]
    for group in groups:
        truth = state.callgroups[group.id]
        assert (group.name, group.selection, group.timeout, group.enabled) == (
            truth.name,
            truth.selection or None,
            truth.timeout,
            truth.enabled,
        )
        assert [
            (int(p.id), tuple(m.exten for m in p.members)) for p in group.priorities
        ] == [(p.id, p.members) for p in truth.priorities]
    sales = await client.callgroup("1")
    assert sales is not None
    assert sales.failover is not None
    assert sales.failover.type is FailoverType.FORWARD_TO_VOICEMAIL
    assert sales.priorities[0].members[0].display_name == "Support Helpdesk"
    assert await client.callgroup("99") is None

    rooms = await client.conferences()
    assert [
        (c.name, c.enabled, c.internal_selection, c.external_selection) for c in rooms
    ] == [
        (c.name, c.enabled, c.internal, c.external or None) for c in state.conferences
    ]
    for conference in state.conferences:
        assert conference.admin_pin not in repr(rooms)


# ---------------------------------------------------------------- calls


async def test_click2call(client: KalliopeClient, simulator: RunningSimulator) -> None:
    state = simulator.state
    await client.click2call("202", "0612345678", Click2CallType.OUT)
    await client.click2call("202", "203", request_id="c2c-2")
    assert [(c.exten, c.number, c.type) for c in state.placed_calls] == [
        ("202", "0612345678", "out"),
        ("202", "203", "auto"),
    ]
    for exten, number, code in (
        ("205", "203", 10),  # not registered
        ("", "203", 11),  # no extension
        ("202", "", 12),  # no number
    ):
        with pytest.raises(KalliopeApiError) as err:
            await client.click2call(exten, number)
        assert err.value.code == code
        assert err.value.endpoint == "POST /click2call"
        assert err.value.message
    assert len(state.placed_calls) == 2


async def test_call_records_v3(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    begin = pbx_local(state, min(r.start for r in state.cdr)) - timedelta(minutes=1)
    end = pbx_local(state, state.now()) + timedelta(minutes=1)
    records = await client.call_records(CdrQuery(begin=begin, end=end))
    assert [r.id for r in records] == [str(r.id) for r in state.cdr]
    truth = {str(r.id): r for r in state.cdr}
    for record in records:
        call = truth[record.id]
        assert record.unique_id == call.unique_id
        assert record.start == pbx_local(state, call.start)
        assert record.duration == call.duration
        assert record.billsec == call.billsec
    # Without the privacy password external numbers lose their last digits.
    inbound = [r for r in records if r.direction is CallDirection.INBOUND]
    assert inbound
    assert all(r.caller and r.caller.endswith("XXX") for r in inbound)

    privacy = md5_hex(state.privacy_password)
    revealed = await client.call_records(
        CdrQuery(
            begin=begin,
            end=end,
            filter=CdrFilter(direction=CallDirection.INBOUND),
            privacy_password_md5=privacy,
        )
    )
    expected = [r for r in state.cdr if r.direction == 1]
    assert [(r.caller, r.caller_name or "") for r in revealed] == [
        (r.caller_num, r.caller_name) for r in expected
    ]
    answered = await client.call_records(
        CdrQuery(
            begin=begin,
            end=end,
            filter=CdrFilter(status=CallStatus.ANSWERED, called_num="20%"),
        )
    )
    assert answered
    assert all(
        r.status is CallStatus.ANSWERED and (r.called or "").startswith("20")
        for r in answered
    )
    # Default query: this month so far.
    assert len(await client.call_records()) <= len(state.cdr)

    with pytest.raises(KalliopeApiError) as err:
        await client.call_records(CdrQuery(privacy_password_md5=md5_hex("wrong")))
    assert (err.value.code, err.value.endpoint) == (3, "POST /cdr")
    with pytest.raises(KalliopeApiError) as err:
        await client.call_records(CdrQuery(begin=end, end=begin))
    assert err.value.code == 11


@pytest.mark.parametrize("scenario", [V4_DEMO])
async def test_call_records_v4(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    """The simulator's 4.x records give back the directions it knows."""
    state = simulator.state
    begin = pbx_local(state, min(r.start for r in state.cdr)) - timedelta(minutes=1)
    end = pbx_local(state, state.now()) + timedelta(minutes=1)
    records = await client.call_records(CdrQuery(begin=begin, end=end))
    assert [r.unique_id for r in records] == [r.unique_id for r in state.cdr]
    names = {1: "inbound", 2: "outbound", 4: "internal"}
    assert [r.direction.value for r in records] == [
        names[r.direction] for r in state.cdr
    ]
    first, call = records[0], state.cdr[0]
    assert (first.caller, first.called) == (call.caller_num, call.called_num)
    assert first.start == pbx_local(state, call.start)

    inbound = await client.call_records(
        CdrQuery(
            begin=begin, end=end, filter=CdrFilter(direction=CallDirection.INBOUND)
        )
    )
    assert [r.unique_id for r in inbound] == [
        r.unique_id for r in state.cdr if r.direction == 1
    ]
    one = await client.call_records(
        CdrQuery(begin=begin, end=end, filter=CdrFilter(unique_id=call.unique_id)),
        request_id="cdr-1",
    )
    assert [r.unique_id for r in one] == [call.unique_id]
    assert state.counters["POST /cdr/{format}"] == 3


# ---------------------------------------------------------------- phonebook


async def test_phonebook_read_and_search(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    contacts = await client.phonebook_contacts()
    assert [c.id for c in contacts] == [str(i) for i in state.contacts]
    for contact in contacts:
        truth = state.contacts[int(contact.id)]
        assert (contact.first_name, contact.last_name, contact.phone) == (
            truth.first_name,
            truth.last_name,
            truth.phone,
        )
        assert contact.organization == (truth.organization or None)
        assert contact.type is ContactType(truth.type)
    assert contacts[-1].type is ContactType.PRIVATE

    bassi = await client.phonebook_contact("3")
    assert bassi is not None
    assert (bassi.name, bassi.organization, bassi.speed_dial) == (
        "Giulia Bassi",
        "Caffè Nazionale S.n.c.",
        "12",
    )
    assert await client.phonebook_contact("999") is None

    anywhere = await client.search_phonebook(PhonebookFilter(any="%rossi%"))
    assert {c.id for c in anywhere} == {
        str(c.id)
        for c in state.contacts.values()
        if any(
            "rossi" in getattr(c, f).casefold()
            for f in (
                "first_name",
                "last_name",
                "organization",
                "organizational_unit",
                "phone",
                "mail",
            )
        )
    }
    assert len(anywhere) >= 2
    companies = await client.search_phonebook(PhonebookFilter(organization="%S.r.l."))
    assert companies
    assert all((c.organization or "").endswith("S.r.l.") for c in companies)
    exact = await client.search_phonebook(
        PhonebookFilter(last_name="rossi", first_name="Mar%")
    )
    assert [c.name for c in exact] == ["Mario Rossi"]
    assert await client.search_phonebook(PhonebookFilter(phone="+1%")) == []


async def test_phonebook_add_update_delete(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    count = len(state.contacts)
    await client.add_contact(
        ContactInput(
            first_name="Ada",
            last_name="Lovelace & Co <Ltd>",
            phone="+390212345678",
            organization="Analytical Engines",
            mail="ada@example.it",
        ),
        request_id="add-1",
    )
    assert len(state.contacts) == count + 1
    new_id = max(state.contacts)
    added = state.contacts[new_id]
    assert (added.last_name, added.phone, added.owner) == (
        "Lovelace & Co <Ltd>",
        "+390212345678",
        "-1",
    )
    found = await client.search_phonebook(PhonebookFilter(any="%lovelace%"))
    assert [c.id for c in found] == [str(new_id)]

    await client.add_contact(
        ContactInput(
            first_name="Pia", last_name="Privata", phone="3331112222", owner="202"
        )
    )
    assert state.contacts[max(state.contacts)].owner == "202"

    await client.update_contact(
        ContactInput(id=str(new_id), phone="+390299999999", speed_dial="42")
    )
    assert (state.contacts[new_id].phone, state.contacts[new_id].speed_dial) == (
        "+390299999999",
        "42",
    )
    assert state.contacts[new_id].first_name == "Ada"

    await client.delete_contact(str(new_id), request_id="del-1")
    assert new_id not in state.contacts
    assert await client.phonebook_contact(str(new_id)) is None

    for action, code in (
        (client.delete_contact(str(new_id)), 15),  # gone
        (client.delete_contact("30"), 17),  # a user's private contact
        (client.update_contact(ContactInput(id="30", phone="1234")), 17),
        (
            client.add_contact(
                ContactInput(first_name="A", last_name="B", phone="123", owner="299")
            ),
            11,
        ),
    ):
        with pytest.raises(KalliopeApiError) as err:
            await action
        assert err.value.code == code
    assert 30 in state.contacts

    sent = sum(state.counters.values())
    for refused in (
        client.add_contact(ContactInput(id="5", first_name="X")),
        client.update_contact(ContactInput(first_name="X")),
        # The reference's mandatory fields (its error 12), checked before sending.
        client.add_contact(ContactInput(first_name="No", last_name="Phone")),
        client.add_contact(ContactInput(first_name="A", last_name="B", phone=" ")),
        client.update_contact(ContactInput(id="1", last_name="")),
        # Its PUT carries no owner; its owner is -1 or an extension.
        client.update_contact(ContactInput(id="1", phone="1", owner="202")),
        client.add_contact(
            ContactInput(first_name="A", last_name="B", phone="1", owner="2/../x")
        ),
        client.update_contact(ContactInput(id="1")),
    ):
        with pytest.raises(KalliopeInputError):
            await refused
    assert sum(state.counters.values()) == sent
