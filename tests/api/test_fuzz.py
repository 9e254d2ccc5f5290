"""Property-based fuzzing of the XML layer.

Parsing: whatever bytes a PBX (or something pretending to be one) sends,
every parser returns a model or raises a `KalliopeError` subclass, never
another exception, and never expands an entity.

Building: whatever strings a caller passes, a request is well-formed XML that
parses back to exactly those strings, or it is refused with
`KalliopeInputError` before anything is sent.

The suite runs a few hundred cases per property; `scripts/fuzz` runs the same
properties for as many cases as asked (`KALLIOPE_FUZZ_EXAMPLES` per property).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import is_dataclass
from datetime import datetime
import os
from pathlib import Path
import re
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings, strategies as st
import xmltodict

from custom_components.kalliopepbx.api import (
    CallDirection,
    CallStatus,
    CdrFilter,
    CdrQuery,
    Click2CallType,
    ContactInput,
    Failover,
    FailoverType,
    GatewayType,
    KalliopeError,
    KalliopeInputError,
    PhonebookFilter,
    UserUpdate,
    cdr_protocol,
    decode,
    envelope,
    parsers,
    request_bodies,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
EP = "GET /fuzz"
EXAMPLES = int(os.environ.get("KALLIOPE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
# Cases run per property, read by scripts/fuzz.
CASES: Counter[str] = Counter()

# ---------------------------------------------------------------- parsers

PARSERS: dict[str, Callable[[bytes], object]] = {
    "decode_document": lambda body: decode.decode_document(body, EP),
    "parse_response": lambda body: envelope.parse_response(body, EP),
    "registrations": lambda body: parsers.parse_registrations(body, EP),
    "users_brief": lambda body: parsers.parse_users_brief(body, EP),
    "users_configs": lambda body: parsers.parse_users_configs(body, EP),
    "voicemail_count": lambda body: parsers.parse_voicemail_count(body, EP, "201"),
    "firmware": lambda body: parsers.parse_firmware(body, EP),
    "firmware_update_status": lambda body: parsers.parse_firmware_update_status(
        body, EP
    ),
    "license": lambda body: parsers.parse_license(body, EP),
    "contacts": lambda body: parsers.parse_contacts(body, EP),
    "result": lambda body: envelope.parse_result(
        body, EP, "click2call", key="error_code"
    ),
    "status_flag": lambda body: envelope.parse_status_flag(
        envelope.parse_response(body, EP), "pbx_pending", EP
    ),
    "callgroups": lambda body: parsers.parse_callgroups(body, EP),
    "conferences": lambda body: parsers.parse_conferences(body, EP),
    "cdr": lambda body: cdr_protocol.parse_call_records(body, EP),
    "salt": lambda body: parsers.parse_salt(body, EP),
    "json_value": lambda body: parsers.parse_json_value(
        body, ("serialNumber", "serial")
    ),
}
PARSER_NAMES = sorted(PARSERS)
FIXTURE_BODIES = {path.name: path.read_bytes() for path in sorted(FIXTURES.glob("*"))}
ELEMENT_NAMES = sorted(
    {
        name.decode()
        for body in FIXTURE_BODIES.values()
        for name in re.findall(rb"<([A-Za-z_][A-Za-z0-9_.-]*)", body)
    }
    | {"request_not_allowed", "error", "code", "message", "salt", "pbx_pending"}
)
# Strings a hostile or broken PBX might put in an element.
HOSTILE_TEXT = (
    "&",
    "<",
    ">",
    "]]>",
    "&amp;",
    "&lt;&gt;",
    "&#0;",
    "&#x1F;",
    "&#xD800;",
    "&#1114112;",
    "&xxe;",
    "&lol9;",
    "%pe;",
    "<![CDATA[<kpbx_response/>]]>",
    "<!-- -->",
    "<?pi data?>",
    "\x00",
    "\x0b",
    "\x1b[31m",
    "\ufffe",
    "\u202e",
    "9" * 400,
    "-" + "9" * 5000 + ".5",
    "1e309",
    "NaN",
    "inf",
    "1,5",
    " 12 ms ",
    "true",
    "FALSE",
    "2016-02-30 25:61:61",
    "9999-12-31 23:59:59",
    "0001-01-01 00:00:00",
    "OK",
    "UNREACHABLE",
    "FORWARD_TO_EXTERNAL_NUMBER",
    "ACTIVE",
    "\u00e0\u00e8\u00ec\u00f2\u00f9",
    "\U0001f4de",
    "A" * 5000,
)
ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be", "utf-16", "utf-32")
# Text that only an expanded entity could put into a result.
EXPANDED = "EXPANDED-ENTITY"


def acceptable(result: object) -> bool:
    """A model, a list of models, a flag, a string or nothing."""
    if result is None or isinstance(result, bool | str):
        return True
    if isinstance(result, list):
        return all(is_dataclass(item) and not isinstance(item, type) for item in result)
    if isinstance(result, Mapping):  # decode_document / parse_response
        return True
    return is_dataclass(result) and not isinstance(result, type)


def expanded(result: object) -> bool:
    """Whether an entity's text reached a result (raw document text aside)."""
    shown = repr(result)
    return (EXPANDED in shown or "root:" in shown) and "<!ENTITY" not in shown


def run_parser(name: str, body: bytes) -> object | KalliopeError:
    """The parser's result or its `KalliopeError`; anything else fails the test."""
    try:
        result = PARSERS[name](body)
    except KalliopeError as err:
        return err
    assert acceptable(result), f"{name} returned {type(result).__name__}"
    return result


def encode(document: str, encoding: str) -> bytes:
    """The document in `encoding` (what cannot be encoded becomes `?`)."""
    return document.encode(encoding, "replace")


# ---------------------------------------------------------------- strategies

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(HOSTILE_TEXT),
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
)


@st.composite
def leaf(draw: st.DrawFn) -> str:
    """One element with text content, escaped or (sometimes) raw."""
    name = draw(st.sampled_from(ELEMENT_NAMES))
    value = draw(texts)
    content = value if draw(st.integers(0, 5)) == 0 else escape(value)
    if content == "" and draw(st.booleans()):
        return f"<{name}/>"
    return f"<{name}>{content}</{name}>"


elements = st.recursive(
    leaf(),
    lambda children: st.tuples(
        st.sampled_from(ELEMENT_NAMES), st.lists(children, max_size=5)
    ).map(lambda pair: f"<{pair[0]}>{''.join(pair[1])}</{pair[0]}>"),
    max_leaves=40,
)


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    """A document made of the PBX's own element names, in various encodings."""
    body = "".join(draw(st.lists(elements, max_size=6)))
    root = draw(st.sampled_from(("kpbx_response", "kpbx_response", "cdr", "html")))
    document = f"<{root}>{body}</{root}>"
    encoding = draw(st.sampled_from(ENCODINGS))
    if draw(st.booleans()):
        label = draw(st.sampled_from(("UTF-8", "ISO-8859-1", "UTF-16", "bogus")))
        document = f'<?xml version="1.0" encoding="{label}"?>\n{document}'
    data = encode(document, encoding)
    if draw(st.booleans()):
        data = draw(st.sampled_from((b"\xef\xbb\xbf", b"  \r\n", b"\xff\xfe"))) + data
    return data


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> tuple[str, bytes]:
    """A reference-shaped answer, damaged a few times."""
    name = draw(st.sampled_from(sorted(FIXTURE_BODIES)))
    data = bytearray(FIXTURE_BODIES[name])
    for _ in range(draw(st.integers(1, 8))):
        size = len(data)
        at = draw(st.integers(0, size))
        operation = draw(
            st.sampled_from(
                ("flip", "delete", "insert", "hostile", "duplicate", "truncate")
            )
        )
        if operation == "flip" and at < size:
            data[at] = draw(st.integers(0, 255))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "hostile":
            snippet = draw(st.sampled_from(HOSTILE_TEXT))
            data[at:at] = snippet.encode("utf-8", "surrogatepass")
        elif operation == "duplicate":
            end = min(size, at + draw(st.integers(1, 256)))
            data[at:at] = data[at:end]
        elif operation == "truncate":
            del data[at:]
    return name, bytes(data)


@st.composite
def dtd_payloads(draw: st.DrawFn) -> bytes:
    """Entity expansion and external entity attacks, dressed in many ways."""
    kind = draw(
        st.sampled_from(
            ("laughs", "quadratic", "external", "parameter", "external_dtd")
        )
    )
    if kind == "laughs":
        depth = draw(st.integers(1, 10))
        entities = [f'<!ENTITY lol0 "{EXPANDED}">'] + [
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, depth)
        ]
        reference = f"&lol{depth - 1};"
    elif kind == "quadratic":
        entities = [f'<!ENTITY big "{EXPANDED}{"x" * draw(st.integers(1, 5000))}">']
        reference = "&big;" * draw(st.integers(1, 200))
    elif kind == "external":
        target = draw(
            st.sampled_from(
                (
                    "file:///etc/passwd",
                    "http://127.0.0.1:9/x",
                    "ftp://127.0.0.1/x",
                    "/dev/zero",
                )
            )
        )
        entities = [f'<!ENTITY xxe SYSTEM "{target}">']
        reference = "&xxe;"
    elif kind == "parameter":
        entities = [
            '<!ENTITY % pe SYSTEM "http://127.0.0.1:9/evil.dtd">',
            "%pe;",
            f'<!ENTITY inner "{EXPANDED}">',
        ]
        reference = "&inner;"
    else:
        entities = []
        reference = "&xxe;"
    keyword = draw(st.sampled_from(("DOCTYPE", "doctype", "DocType")))
    system = ' SYSTEM "http://127.0.0.1:9/evil.dtd"' if kind == "external_dtd" else ""
    root = draw(st.sampled_from(("kpbx_response", "cdr", "x")))
    element = draw(st.sampled_from(("salt", "primary", "exten", "message")))
    document = (
        f"<!{keyword} {root}{system} [\n{''.join(entities)}\n]>"
        f"<{root}><{element}>{reference}</{element}></{root}>"
    )
    if draw(st.booleans()):
        document = '<?xml version="1.0"?>\n' + document
    if draw(st.booleans()):
        document = "<!-- comment -->" + document
    encoding = draw(st.sampled_from(ENCODINGS))
    data = encode(document, encoding)
    if encoding == "utf-16" or draw(st.booleans()):
        return data
    return draw(st.sampled_from((b"", b"\xef\xbb\xbf", b" \n\t"))) + data


@st.composite
def huge_bodies(draw: st.DrawFn) -> bytes:
    """Big, deep or long: many elements, deep nesting, huge numbers and text."""
    shape = draw(
        st.sampled_from(
            (
                "many",
                "deep_xml",
                "deep_json_object",
                "deep_json_array",
                "json_cdr_deep_id",
                "number",
                "text",
            )
        )
    )
    size = draw(st.integers(1, 5_000))
    if shape == "many":
        item = b"<registration><exten>201</exten><rtt>12 ms</rtt></registration>"
        return (
            b"<kpbx_response><registrations>"
            + item * size
            + b"</registrations></kpbx_response>"
        )
    if shape == "deep_xml":
        depth = size + 1
        return (
            b"<kpbx_response>" + b"<a>" * depth + b"</a>" * depth + b"</kpbx_response>"
        )
    if shape == "deep_json_object":
        return b'{"salt":' * size + b'"x"' + b"}" * size
    if shape == "deep_json_array":
        return b"[" * size + b"]" * size
    if shape == "json_cdr_deep_id":
        depth = size + 1
        return (
            b'{"cdr": [{"start_time": "2024-01-01 00:00:00", "id": '
            + b"[" * depth
            + b'"1"'
            + b"]" * depth
            + b"}]}"
        )
    if shape == "number":
        digits = b"9" * size
        return (
            b"<kpbx_response><voicemails><voicemail><new_messages>"
            + digits
            + b"</new_messages></voicemail></voicemails>"
            + b"<registrations><registration><exten>1</exten><port>"
            + digits
            + b"</port><rtt>"
            + digits
            + b".9</rtt></registration></registrations>"
            + b"<pbx_instance_license><licensed_exten>"
            + digits
            + b"</licensed_exten></pbx_instance_license>"
            + b"</kpbx_response>"
        )
    return (
        b"<kpbx_response><firmware><primary>"
        + b"\xc3\xa8" * size * 20
        + b"</primary></firmware></kpbx_response>"
    )


# ---------------------------------------------------------------- parsing properties


@FUZZ
@given(name=st.sampled_from(PARSER_NAMES), body=st.binary(max_size=2048))
def test_parsers_on_arbitrary_bytes(name: str, body: bytes) -> None:
    """Random bytes: a result or a KalliopeError, nothing else."""
    CASES["arbitrary_bytes"] += 1
    run_parser(name, body)


@FUZZ
@given(name=st.sampled_from(PARSER_NAMES), body=xml_documents())
def test_parsers_on_generated_documents(name: str, body: bytes) -> None:
    """Well-formed or not, documents of the PBX's own vocabulary never crash a parser."""
    CASES["generated_documents"] += 1
    run_parser(name, body)


@FUZZ
@given(name=st.sampled_from(PARSER_NAMES), fixture=mutated_fixtures())
def test_parsers_on_mutated_fixtures(name: str, fixture: tuple[str, bytes]) -> None:
    """Damaged real answers: a result or a KalliopeError, with every parser."""
    CASES["mutated_fixtures"] += 1
    run_parser(name, fixture[1])


@FUZZ
@given(name=st.sampled_from(PARSER_NAMES), body=dtd_payloads())
def test_entities_are_never_expanded(name: str, body: bytes) -> None:
    """A document type declaration is refused, in any encoding; nothing expands."""
    CASES["entity_payloads"] += 1
    result = run_parser(name, body)
    assert not expanded(result)
    if name not in ("salt", "json_value"):  # these answer None for junk
        assert isinstance(result, KalliopeError), f"{name} accepted {body[:80]!r}"


@FUZZ
@given(name=st.sampled_from(PARSER_NAMES), body=huge_bodies())
def test_parsers_on_huge_bodies(name: str, body: bytes) -> None:
    """Many elements, deep nesting, huge numbers: bounded, and no stray exception."""
    CASES["huge_bodies"] += 1
    run_parser(name, body)


# ---------------------------------------------------------------- building properties

# Hostile text for requests: XML specials, controls, surrogates, non-characters.
request_texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(
        st.sampled_from(
            "<>&'\"]\r\n\t\x00\x01\x0b\x1f\x7f\x85\ud800\udfff\ufffe\uffff\u2028%;#"
        ),
        max_size=20,
    ),
    st.sampled_from(HOSTILE_TEXT),
)


# Element names of request content (request_id is the builder's own).
CONTENT_NAMES = [name for name in ELEMENT_NAMES if name != "request_id"]


def parse_back(body: bytes) -> Any:
    """A request as the PBX reads it (whitespace kept)."""
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return xmltodict.parse(body, strip_whitespace=False)["kpbx_request"]


def same_text(sent: str | None, received: Any) -> bool:
    """An empty string comes back as an empty element (None)."""
    if sent in (None, ""):
        return received in (None, "")
    return sent == received


REFUSED = object()


def build(content: Mapping[str, Any], request_id: str | None = None) -> Any:
    """Build and parse back; REFUSED when refused (then a bad string was in it)."""
    try:
        body = request_bodies.build_request(content, request_id)
    except KalliopeInputError:
        return REFUSED
    return parse_back(body)


def has_invalid(*values: str | None) -> bool:
    """Whether a string holds characters XML 1.0 cannot carry."""
    return any(
        value is not None and request_bodies._XML_INVALID.search(value) is not None
        for value in values
    )


def breaks_contact_rules(contact: ContactInput) -> bool:
    """The reference's rules: first name, last name and phone mandatory on a
    new contact and never emptied; an owner (-1 or an extension) only on a
    new one; an update changes something."""
    new = contact.id is None
    mandatory = (contact.first_name, contact.last_name, contact.phone)
    if any((v is None and new) or (v is not None and not v.strip()) for v in mandatory):
        return True
    if contact.owner is not None and (
        not new or re.fullmatch(r"-1|[0-9*#]{1,32}", contact.owner) is None
    ):
        return True
    changes = (
        *mandatory,
        contact.organization,
        contact.organizational_unit,
        contact.mail,
        contact.speed_dial,
    )
    return not new and all(value is None for value in changes)


@FUZZ
@given(
    content=st.dictionaries(
        st.sampled_from(CONTENT_NAMES),
        st.one_of(
            request_texts,
            st.dictionaries(st.sampled_from(CONTENT_NAMES), request_texts, max_size=4),
        ),
        max_size=6,
    ),
    request_id=st.one_of(st.none(), request_texts),
)
def test_build_request_round_trips(
    content: dict[str, Any], request_id: str | None
) -> None:
    """Every string comes back exactly, or the request is refused before sending."""
    CASES["build_request"] += 1
    strings = [request_id] + [
        value
        for item in content.values()
        for value in (item.values() if isinstance(item, dict) else (item,))
    ]
    received = build(content, request_id)
    if received is REFUSED:
        assert has_invalid(*strings)
        return
    assert not has_invalid(*strings)
    received = received or {}
    if request_id is not None:
        assert same_text(request_id, received.get("request_id"))
    for key, value in content.items():
        if isinstance(value, dict):
            inner = received.get(key) or {}
            for inner_key, inner_value in value.items():
                assert same_text(inner_value, inner.get(inner_key))
        else:
            assert same_text(value, received.get(key))


@FUZZ
@given(
    exten=request_texts,
    number=request_texts,
    call_type=st.sampled_from(Click2CallType),
    contact=st.builds(
        ContactInput,
        id=st.none() | request_texts,
        first_name=st.none() | request_texts,
        last_name=st.none() | request_texts,
        phone=st.none() | request_texts,
        organization=st.none() | request_texts,
        organizational_unit=st.none() | request_texts,
        mail=st.none() | request_texts,
        speed_dial=st.none() | request_texts,
        owner=st.none() | request_texts,
    ),
    search=request_texts,
    failover=st.builds(
        Failover,
        type=st.sampled_from(FailoverType),
        destination=st.none() | request_texts,
        destination_name=st.none() | request_texts,
        gateway_type=st.none() | st.sampled_from(GatewayType),
        gateway_id=st.none() | request_texts,
        gateway_name=st.none() | request_texts,
        intro=st.none() | request_texts,
        type_raw=st.none() | request_texts,
    ),
    name=request_texts,
    begin=st.none() | st.datetimes(min_value=datetime(1, 1, 1)),
)
def test_node_builders_round_trip(
    exten: str,
    number: str,
    call_type: Click2CallType,
    contact: ContactInput,
    search: str,
    failover: Failover,
    name: str,
    begin: datetime | None,
) -> None:
    """Click-to-call, contacts, searches, CDR queries and user updates round-trip."""
    CASES["node_builders"] += 1

    received = build(request_bodies.click2call_node(exten, number, call_type))
    if received is REFUSED:
        assert has_invalid(exten, number)
    else:
        node = received["click2call"]
        assert same_text(exten, node["exten"])
        assert same_text(number, node["number_to_call"])
        assert node["type"] == call_type.value

    fields = (
        "id",
        "owner",
        "first_name",
        "last_name",
        "organization",
        "organizational_unit",
        "phone",
        "mail",
        "speed_dial",
    )
    values = [getattr(contact, field) for field in fields]
    try:
        contact_content = request_bodies.contact_node(contact)
    except KalliopeInputError:
        assert breaks_contact_rules(contact)
        contact_content = None
    else:
        assert not breaks_contact_rules(contact)
    received = REFUSED if contact_content is None else build(contact_content)
    if contact_content is None:
        pass
    elif received is REFUSED:
        assert has_invalid(*values)
    else:
        node = received["contact"] or {}
        for field, value in zip(fields, values, strict=True):
            if value is not None:
                assert same_text(value, node.get(field))

    received = build(request_bodies.phonebook_filter_node(PhonebookFilter(any=search)))
    if received is REFUSED:
        assert has_invalid(search)
    else:
        assert same_text(search, received["filter"]["any"])

    query = CdrQuery(
        begin=begin,
        filter=CdrFilter(
            caller_num=search,
            called_name=name,
            direction=CallDirection.INBOUND,
            status=CallStatus.ANSWERED,
        ),
        privacy_password_md5=name,
    )
    received = build(cdr_protocol.v3_request(query))
    if received is REFUSED:
        assert has_invalid(search, name)
    else:
        node = received["cdr"]
        assert same_text(name, node["privacy_password"])
        assert same_text(search, node["filter"]["caller_num"])
        assert same_text(name, node["filter"]["called_name"])
        if begin is not None:
            assert node["begin"] == begin.strftime("%Y-%m-%d %H:%M:%S")

    received = build(
        request_bodies.user_update_node(UserUpdate(first_name=name, failover=failover))
    )
    failover_texts = (
        failover.destination,
        failover.destination_name,
        failover.gateway_id,
        failover.gateway_name,
        failover.intro,
    )
    type_raw = failover.type_raw if failover.type is FailoverType.UNKNOWN else None
    if received is REFUSED:
        assert has_invalid(name, type_raw, *failover_texts)
    else:
        node = received["user"]
        assert same_text(name, node["first_name"])
        assert same_text(failover.intro, node["failover"].get("intro"))
        destination = node["failover"].get("destination") or {}
        assert same_text(failover.destination, destination.get("value"))
        assert same_text(failover.gateway_name, destination.get("gateway_name"))


def test_hostile_payload_examples_are_refused() -> None:
    """Named examples: billion laughs and XXE in UTF-8 and UTF-16 are refused."""
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE kpbx_response [<!ENTITY a "'
        + EXPANDED
        + '"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<kpbx_response><firmware><primary>&b;</primary></firmware></kpbx_response>"
    )
    xxe = (
        '<!DOCTYPE kpbx_response [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<kpbx_response><firmware><primary>&x;</primary></firmware></kpbx_response>"
    )
    for document in (laughs, xxe):
        for encoding in ENCODINGS:
            for name in PARSER_NAMES:
                result = run_parser(name, encode(document, encoding))
                assert not expanded(result)
                if name not in ("salt", "json_value"):
                    assert isinstance(result, KalliopeError), (name, encoding)
