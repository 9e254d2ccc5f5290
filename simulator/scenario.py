"""Deterministic scenarios: the same arguments always build the same PBX.

Only CDR times depend on when the scenario is built (the calls of the last
45 days); pass `now` to pin them too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
import hashlib
import random

from .state import (
    Callgroup,
    CdrRecord,
    Conference,
    Contact,
    Extension,
    Failover,
    Gateway,
    PbxState,
    Priority,
    Registration,
    VoicemailCount,
    default_failover,
    email_local,
    fill_contact,
    md5_hex,
)

MAX_EXTENSIONS = 8999  # 1001..9999

FIRST_NAMES = (
    "Alessandro", "Andrea", "Antonio", "Francesco", "Giuseppe", "Giovanni",
    "Lorenzo", "Luca", "Marco", "Matteo", "Mattia", "Niccolò", "Nicolò", "Paolo",
    "Pietro", "Riccardo", "Roberto", "Simone", "Stefano", "Tommaso", "Davide",
    "Daniele", "Emanuele", "Fabio", "Federico", "Filippo", "Gabriele", "Giacomo",
    "Leonardo", "Massimo", "Michele", "Claudio", "Enrico", "Alberto", "Salvatore",
    "Vincenzo", "Domenico", "Carlo", "Sergio", "Ettore", "Alessandra", "Anna",
    "Beatrice", "Camilla", "Chiara", "Cristina", "Elena", "Elisa", "Federica",
    "Francesca", "Giada", "Giorgia", "Giulia", "Ilaria", "Laura", "Lucia", "Marta",
    "Martina", "Monica", "Paola", "Roberta", "Sara", "Silvia", "Valentina",
    "Veronica", "Alice", "Aurora", "Benedetta", "Caterina", "Eleonora", "Emma",
    "Gaia", "Greta", "Ludovica", "Noemi", "Rebecca", "Sofia", "Vittoria", "Bianca",
    "Irene",
)  # fmt: skip

LAST_NAMES = (
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
    "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa",
    "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro",
    "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo",
    "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "De Santis",
    "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro", "Ferri",
    "Fabbri", "Bianco", "Marini", "Grasso", "Valentini", "Messina", "Sala",
    "De Angelis", "Gatti", "Pellegrini", "Palumbo", "Sanna", "Farina", "Rizzi",
    "Monti", "Cattaneo", "Morelli", "Amato", "Silvestri", "Mazza", "Testa", "Grassi",
    "Pellegrino", "Carbone", "Giuliani", "Benedetti", "Barone", "Rossetti", "Caputo",
    "Montanari", "Guerra", "Palmieri", "Bernardi", "Martino", "Fiore", "De Rosa",
    "Ferretti", "Bellini", "Basile", "Riva", "Donati", "Piras", "Vitali",
    "Battaglia", "Sartori", "Neri", "Costantini", "Milani", "Pagano", "Ruggiero",
    "Sorrentino", "D'Amico", "Orlando", "Negri", "Lucà", "Cantù", "Bernabò", "Pirrò",
    "Dell'Acqua", "Lo Iacono", "Di Stefano", "Fumagalli", "Brambilla", "Colonna",
    "Ferrero", "Bassi", "Zanetti", "Bertolini", "Mazzoni", "Rota", "Tedesco",
    "Marchi", "Leoni", "Gualtieri", "Cirillo",
)  # fmt: skip

# (first, last, organization, unit, phone, mail, speed dial)
CONTACTS = (
    ("Mario", "Rossi", "Rossi & Figli S.r.l.", "Amministrazione", "+390248512231", "mario.rossi@rossiefigli.it", "11"),
    ("Lucia", "Rossi", "Rossi & Figli S.r.l.", "Acquisti", "+390248512240", "acquisti@rossiefigli.it", ""),
    ("Giulia", "Bassi", "Caffè Nazionale S.n.c.", "", "+390116693021", "info@caffenazionale.it", "12"),
    ("Luca", "Ferrero", "Ferrero Impianti Elettrici S.r.l.", "Assistenza", "+390114561178", "assistenza@ferreroimpianti.it", ""),
    ("Anna", "Conti", "Studio Legale Conti & Associati", "Segreteria", "+39065521874", "segreteria@studioconti.it", "13"),
    ("Paolo", "Neri", "Tipografia Neri", "", "+390516234455", "paolo@tipografianeri.it", ""),
    ("Francesca", "Moretti", "Società Agricola Bellavista", "Vendite", "+390577280314", "vendite@agribellavista.it", ""),
    ("Niccolò", "Lucà", "Lucà Trasporti S.p.A.", "Logistica", "+390909871220", "logistica@lucatrasporti.it", "14"),
    ("Stefano", "D'Amico", "D'Amico Costruzioni S.r.l.", "Ufficio tecnico", "+390815527760", "tecnico@damicocostruzioni.it", ""),
    ("Chiara", "Esposito", "Banca Popolare del Vesuvio", "Filiale Napoli Centro", "+390817645100", "filiale.napoli@bpvesuvio.it", ""),
    ("Roberto", "Galli", "Galli Forniture Ufficio", "", "+390354412298", "ordini@galliforniture.it", ""),
    ("Elena", "Marchetti", "Hotel Belvedere", "Ricevimento", "+390464551120", "booking@hotelbelvedere.it", ""),
    ("Davide", "Colombo", "Colombo Informatica S.r.l.", "Help desk", "+390293561010", "helpdesk@colomboinformatica.it", "15"),
    ("Sara", "Fontana", "Studio Commercialista Fontana", "", "+390302400871", "studio@fontanacommercialisti.it", ""),
    ("Marco", "Greco", "Greco Serramenti", "Preventivi", "+390957123300", "preventivi@grecoserramenti.it", ""),
    ("Laura", "Bianchi", "Farmacia Centrale", "", "+390498750022", "farmacia.centrale@example.it", ""),
    ("Giovanni", "Ricci", "Autofficina Ricci", "", "+393356120874", "", ""),
    ("Martina", "Sala", "Sala Eventi & Catering", "Organizzazione", "+390226681543", "eventi@salacatering.it", ""),
    ("Alberto", "Cattaneo", "Cattaneo Logistica S.p.A.", "Magazzino", "+390331778210", "magazzino@cattaneologistica.it", ""),
    ("Federica", "Pellegrini", "Comune di Borgo San Martino", "Ufficio anagrafe", "+390142440120", "anagrafe@comune.borgosanmartino.example.it", ""),
    ("Enrico", "Barbieri", "Barbieri Assicurazioni", "Sinistri", "+390522431876", "sinistri@barbieriassicurazioni.it", ""),
    ("Valentina", "Rinaldi", "Rinaldi Ottica", "", "+390712203344", "info@rinaldiottica.it", ""),
    ("Claudio", "Sartori", "Officine Meccaniche Sartori", "Produzione", "+390444960512", "produzione@omsartori.it", ""),
    ("Ilaria", "Gentile", "Poliambulatorio San Luca", "Prenotazioni", "+390612345900", "prenotazioni@sanluca.example.it", "16"),
    ("Tommaso", "Fabbri", "Fabbri Edilizia", "", "+393471889032", "tommaso@fabbriedilizia.it", ""),
    ("Beatrice", "Mancini", "Pasticceria Mancini", "", "+390755731209", "", ""),
    ("Simone", "Vitale", "Vitale Energia S.r.l.", "Commerciale", "+390802211650", "commerciale@vitaleenergia.it", ""),
    ("Caterina", "Bruno", "Agenzia Viaggi Bruno", "", "+390916112478", "viaggi@agenziabruno.it", ""),
    ("Giorgia", "Lombardi", "", "", "+393398127645", "giorgia.lombardi@example.it", ""),
    ("Matteo", "Russo", "", "", "+393284406172", "", ""),
)  # fmt: skip

PRIVATE_CONTACTS = 2  # the last entries of CONTACTS belong to the first extension

GATEWAYS = (
    Gateway(1, "GATEWAY", "PRI Telecom"),
    Gateway(2, "TRUNK", "VoIP Trunk Messagenet"),
    Gateway(3, "BALANCER", "Bilanciamento linee"),
)

DEMO_EXTENSIONS = (
    # exten, first, last, registration, vm (new, urgent, old) or None
    ("201", "Reception", "Front desk", "OK", None),
    ("202", "Giulia", "Rossi", "OK", (2, 0, 5)),
    ("203", "Marco", "Bianchi", "OK", (0, 0, 1)),
    ("204", "Support", "Helpdesk", "OK", (5, 1, 12)),
    ("205", "Luca", "Ferrari", "UNREACHABLE", (1, 0, 0)),
    ("206", "Warehouse", "Magazzino", "OK", None),
    ("207", "Chiara", "Esposito", "OK", (0, 0, 3)),
    ("208", "Alessandro", "Romano", "OK", (3, 0, 8)),
    ("209", "Francesca", "Colombo", "UNKNOWN", (0, 0, 0)),
    ("210", "Meeting room", "Sala riunioni", "OK", None),
    ("211", "Niccolò", "Lucà", "UNREACHABLE", None),
    ("212", "Lab", "Laboratorio", "OK", None),
)


def build_scenario(
    extensions: int = 50,
    *,
    auth: str = "v3",
    password: str = "admin",  # noqa: S107 - the factory default of every PBX
    domain: str = "default",
    seed: int = 1,
    scenario: str = "default",
    serial: str = "KPBX-SIM-0001",
    firmware_primary: str | None = None,
    license_status: str = "ACTIVE",
    timezone: str = "Europe/Rome",
    now: datetime | None = None,
) -> PbxState:
    """A PBX with `extensions` users (the demo scenario always has 12)."""
    if scenario not in ("default", "demo"):
        raise ValueError("scenario must be 'default' or 'demo'")
    if not 0 <= extensions <= MAX_EXTENSIONS:
        raise ValueError(f"extensions must be between 0 and {MAX_EXTENSIONS}")
    if firmware_primary is None:
        firmware_primary = "4.10.2-6432" if auth == "v4" else "3.9.6-2774"
    firmware_secondary = "4.9.8-6120" if auth == "v4" else "3.9.5-2741"
    rng = random.Random(seed)
    state = PbxState(
        auth=auth,
        password=password,
        domain=domain,
        salt=hashlib.md5(f"kpbx-salt:{seed}:{domain}".encode()).hexdigest(),
        serial=serial,
        firmware_primary=firmware_primary,
        firmware_secondary=firmware_secondary,
        license_status=license_status,
        timezone=timezone,
    )
    state.gateways = {g.id: g for g in GATEWAYS}
    state.queues = {"1": "Coda Assistenza", "2": "Coda Ordini"}
    state.ivrs = {"1": "Menu principale"}
    state.checktimes = {"1": "Orario ufficio", "2": "Festività"}

    if scenario == "demo":
        _demo_extensions(state, rng)
    else:
        _default_extensions(state, rng, extensions)
    count = len(state.extensions)
    state.licensed_exten = max(10, -(-count // 10) * 10)

    _callgroups(state, rng)
    _conferences(state)
    _contacts(state)
    _cdr(state, rng, (now or state.now()).astimezone(state.tz))
    state.apply()

    if scenario == "demo":
        # An uncommitted change, so the demo shows pending=true and revert does something.
        ext = state.extensions["203"]
        state.save_extension(
            replace(ext, failover=Failover(type="FORWARD_TO_EXTEN", value="202"))
        )
    state.invalidate()
    return state


def _exten_numbers(count: int) -> list[str]:
    start = 201 if count <= 799 else 1001
    return [str(start + i) for i in range(count)]


def _make_extension(
    rng: random.Random, exten: str, first: str, last: str, vm_enabled: bool
) -> Extension:
    return Extension(
        exten=exten,
        first_name=first,
        last_name=last,
        sip_secret="".join(
            rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(12)
        ),
        enabled=True,
        gui_secret_md5=md5_hex(f"{exten}-{rng.random()}"),
        phonebook_manager=rng.random() < 0.1,
        vm_enabled=vm_enabled,
        vm_secret=f"{rng.randint(0, 9999):04d}" if vm_enabled else "",
        vm_email=f"{email_local(first, last)}@example.it" if vm_enabled else "",
        vm_attach_enabled=vm_enabled and rng.random() < 0.6,
        vm_message_delete=vm_enabled and rng.random() < 0.2,
        failover=default_failover(exten, vm_enabled),
    )


def _registration(rng: random.Random, state: PbxState, exten: str, status: str) -> None:
    reg = state.registrations[exten] = Registration(status=status)
    if status in ("OK", "UNREACHABLE"):
        fill_contact(reg, exten, int(exten) - 200)
        if status == "OK":
            reg.rtt_ms = rng.randint(3, 60)


def _voicemail(rng: random.Random, state: PbxState, exten: str) -> None:
    counts = state.voicemails[exten] = VoicemailCount()
    if rng.random() < 0.4:
        counts.new = rng.randint(1, 5)
        counts.old = rng.randint(0, 20)
        counts.urgent = 1 if rng.random() < 0.15 else 0
    elif rng.random() < 0.3:
        counts.old = rng.randint(1, 10)


def _default_extensions(state: PbxState, rng: random.Random, count: int) -> None:
    pairs = [(f, ln) for f in FIRST_NAMES for ln in LAST_NAMES]
    names = rng.sample(pairs, count)
    for exten, (first, last) in zip(_exten_numbers(count), names, strict=True):
        vm_enabled = rng.random() < 0.5
        ext = _make_extension(rng, exten, first, last, vm_enabled)
        roll = rng.random()
        if roll < 0.03:
            ext = replace(ext, enabled=False)
            status = "UNKNOWN"
        elif roll < 0.03 + 0.97 * 0.75:
            status = "OK"
        elif roll < 0.03 + 0.97 * 0.90:
            status = "UNREACHABLE"
        else:
            status = "UNKNOWN"
        state.extensions[exten] = ext
        _registration(rng, state, exten, status)
        if vm_enabled:
            _voicemail(rng, state, exten)
    # Exactly one user forwards to an external number through a gateway.
    enabled = [e for e in state.extensions.values() if e.enabled]
    if enabled:
        target = enabled[min(2, len(enabled) - 1)]
        state.extensions[target.exten] = replace(
            target,
            failover=Failover(
                type="FORWARD_TO_EXTERNAL_NUMBER",
                value="3351234567",
                gateway_type="GATEWAY",
                gateway_id="1",
            ),
        )


def _demo_extensions(state: PbxState, rng: random.Random) -> None:
    for exten, first, last, status, vm in DEMO_EXTENSIONS:
        ext = _make_extension(rng, exten, first, last, vm is not None)
        state.extensions[exten] = ext
        _registration(rng, state, exten, status)
        if vm is not None:
            new, urgent, old = vm
            state.voicemails[exten] = VoicemailCount(urgent=urgent, new=new, old=old)
    # The CEO's calls go to his mobile when he does not answer.
    state.extensions["208"] = replace(
        state.extensions["208"],
        failover=Failover(
            type="FORWARD_TO_EXTERNAL_NUMBER",
            value="3479876543",
            gateway_type="TRUNK",
            gateway_id="2",
        ),
    )


def _free_number(used: set[str], start: int) -> str:
    """The first number from `start` up that no extension or group uses."""
    number = start
    while str(number) in used:
        number += 1
    used.add(str(number))
    return str(number)


def _callgroups(state: PbxState, rng: random.Random) -> None:
    enabled = [e for e in state.sorted_extens() if state.extensions[e].enabled]
    used = set(state.extensions)
    base = 600 if len(state.extensions) < 300 else 60000

    def priorities(*ranges: tuple[int, int]) -> tuple[Priority, ...]:
        found = (tuple(enabled[start : start + size]) for start, size in ranges)
        return tuple(Priority(i, m) for i, m in enumerate((m for m in found if m), 1))

    mailbox = next(
        (e for e in enabled if state.extensions[e].vm_enabled and e in enabled[3:8]),
        "",
    )
    groups = [
        Callgroup(
            id="incoming",
            name="Centralino",
            selection="",
            timeout=20,
            failover=Failover(type="FORWARD_TO_CALLGROUP_WITHOUT_CHECKTIME", value="1"),
            priorities=priorities((0, 2), (2, 3)),
        ),
        Callgroup(
            id="1",
            name="Vendite",
            selection=_free_number(used, base + 1),
            timeout=25,
            failover=(
                Failover(type="FORWARD_TO_VOICEMAIL", value=mailbox)
                if mailbox
                else Failover()
            ),
            priorities=priorities((3, 5)),
        ),
        Callgroup(
            id="2",
            name="Assistenza",
            selection=_free_number(used, base + 2),
            timeout=30,
            failover=Failover(type="FORWARD_TO_QUEUE_WITH_CHECKTIME", value="1"),
            priorities=priorities((8, 4), (12, 4)),
        ),
    ]
    rng.random()  # keep the stream position stable if groups change
    state.callgroups = {g.id: g for g in groups}


def _conferences(state: PbxState) -> None:
    used = set(state.extensions) | {g.selection for g in state.callgroups.values()}
    base = 700 if len(state.extensions) < 300 else 70000
    state.conferences = [
        Conference(
            name="Sala Riunioni",
            enabled=True,
            internal=_free_number(used, base + 1),
            external="0287654701",
            admin_pin="4321",
            user_pin="1234",
        ),
        Conference(
            name="Call settimanale commerciale",
            enabled=False,
            internal=_free_number(used, base + 2),
            external="",
            admin_pin="9876",
            user_pin="",
        ),
    ]


def _contacts(state: PbxState) -> None:
    owner = state.sorted_extens()[0] if state.extensions else "-1"
    for index, (first, last, org, unit, phone, mail, speed) in enumerate(CONTACTS, 1):
        private = index > len(CONTACTS) - PRIVATE_CONTACTS and owner != "-1"
        state.contacts[index] = Contact(
            id=index,
            first_name=first,
            last_name=last,
            phone=phone,
            organization=org,
            organizational_unit=unit,
            mail=mail,
            speed_dial=speed,
            owner=owner if private else "-1",
        )


def _cdr(state: PbxState, rng: random.Random, now: datetime) -> None:
    """About 300 calls over the last 45 days, mostly in office hours."""
    extens = [e for e in state.sorted_extens() if state.extensions[e].enabled]
    if not extens:
        return
    contact_numbers = [
        (c.phone, f"{c.first_name} {c.last_name}") for c in state.contacts.values()
    ]
    groups = [
        g for g in state.callgroups.values() if any(p.members for p in g.priorities)
    ]
    gateways = [state.gateways[1], state.gateways[2]]
    first_day = (now - timedelta(days=45)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    calls = []
    for _ in range(300):
        day = first_day + timedelta(days=rng.randint(0, 45))
        if day.weekday() >= 5 and rng.random() < 0.8:
            day -= timedelta(days=day.weekday() - 4)
        start = day.replace(
            hour=rng.randint(8, 18),
            minute=rng.randint(0, 59),
            second=rng.randint(0, 59),
        )
        if start > now - timedelta(minutes=20):
            start = now - timedelta(minutes=rng.randint(20, 600))
        start = start.astimezone(state.tz)  # normalise across DST changes
        calls.append((start, rng.random(), rng.random(), rng.random()))
    calls.sort(key=lambda c: c[0])

    for index, (start, kind_roll, status_roll, who_roll) in enumerate(calls, 1):
        ext = state.extensions[extens[int(who_roll * len(extens))]]
        gateway = gateways[index % 2]
        callgroup = ""
        answered_by = ""
        if kind_roll < 0.4:  # inbound
            direction = 1
            if rng.random() < 0.5:
                caller_num, caller_name = rng.choice(contact_numbers)
            else:
                caller_num, caller_name = _random_number(rng), ""
            if groups and rng.random() < 0.5:
                group = rng.choice(groups)
                callgroup = group.name
                called_num, called_name = group.selection or "0287654700", group.name
                members = [m for p in group.priorities for m in p.members]
                answered_by = rng.choice(members)
            else:
                called_num, called_name = ext.exten, ext.display_name
                answered_by = ext.exten
            gateway_id, gateway_name = str(gateway.id), gateway.name
        elif kind_roll < 0.75:  # outbound
            direction = 2
            caller_num, caller_name = ext.exten, ext.display_name
            if rng.random() < 0.4:
                called_num, called_name = rng.choice(contact_numbers)
            else:
                called_num, called_name = _random_number(rng), ""
            gateway_id, gateway_name = str(gateway.id), gateway.name
            answered_by = called_num
        else:  # internal
            direction = 4
            other = state.extensions[rng.choice(extens)]
            caller_num, caller_name = ext.exten, ext.display_name
            called_num, called_name = other.exten, other.display_name
            gateway_id = gateway_name = ""
            answered_by = other.exten
        status = (
            8
            if status_roll < 0.7
            else 4
            if status_roll < 0.85
            else 2
            if status_roll < 0.92
            else 1
            if status_roll < 0.97
            else 3
        )
        ring = timedelta(seconds=rng.randint(2, 25))
        if status == 8:
            answer = start + ring
            end = answer + timedelta(seconds=rng.randint(8, 900))
        else:
            answer = None
            answered_by = ""
            end = start + (
                ring if status == 4 else timedelta(seconds=rng.randint(0, 3))
            )
        state.cdr.append(
            CdrRecord(
                id=index,
                unique_id=f"{int(start.timestamp())}.{index}",
                direction=direction,
                caller_num=caller_num,
                caller_name=caller_name,
                called_num=called_num,
                called_name=called_name,
                status=status,
                start=start,
                answer=answer,
                end=end,
                called_callgroup=callgroup,
                gateway_id=gateway_id,
                gateway_name=gateway_name,
                answered_by=answered_by,
            )
        )


def _random_number(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"3{rng.randint(20, 49)}{rng.randint(0, 9999999):07d}"
    prefix = rng.choice(("02", "06", "011", "051", "055", "081", "091", "0471"))
    return (
        f"{prefix}{rng.randint(0, 10 ** (10 - len(prefix)) - 1):0{10 - len(prefix)}d}"
    )
