"""Phonebook endpoints: read, search, add, change and remove contacts."""

from __future__ import annotations

from . import envelope, parsers, request_bodies
from .errors import KalliopeInputError
from .models import Contact, ContactInput, PhonebookFilter
from .transport import (
    CONTACTS_MAX_BYTES,
    SINGLE_ANSWER_MAX_BYTES,
    Transport,
    path_segment,
)


def _contact_result(body: bytes, endpoint: str) -> None:
    envelope.parse_result(body, endpoint, "contact")


class PhonebookEndpoints(Transport):
    """`/phonebook`."""

    async def phonebook_contacts(
        self, *, request_id: str | None = None
    ) -> list[Contact]:
        """Every phonebook contact."""
        return await self._call(
            "GET",
            "/phonebook/contacts",
            "GET /phonebook/contacts",
            parsers.parse_contacts,
            request_id=request_id,
            max_bytes=CONTACTS_MAX_BYTES,
        )

    async def phonebook_contact(
        self, contact_id: str, *, request_id: str | None = None
    ) -> Contact | None:
        """One contact; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/phonebook/contacts/{path_segment(contact_id, 'contact id')}",
            "GET /phonebook/contacts/{id}",
            parsers.parse_contacts,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        return found[0] if found else None

    async def search_phonebook(
        self, search: PhonebookFilter, *, request_id: str | None = None
    ) -> list[Contact]:
        """Contacts matching the filter (`%` wildcards at either end)."""
        return await self._call(
            "POST",
            "/phonebook/search",
            "POST /phonebook/search",
            parsers.parse_contact_search,
            content=request_bodies.phonebook_filter_node(search),
            request_id=request_id,
            max_bytes=CONTACTS_MAX_BYTES,
        )

    async def add_contact(
        self, contact: ContactInput, *, request_id: str | None = None
    ) -> None:
        """Add a system contact (or a private one with `owner`)."""
        if contact.id is not None:
            raise KalliopeInputError("a new contact has no id")
        await self._send_contact("POST", contact, request_id)

    async def update_contact(
        self, contact: ContactInput, *, request_id: str | None = None
    ) -> None:
        """Change an existing contact, identified by its id."""
        if contact.id is None:
            raise KalliopeInputError("a contact update needs the contact's id")
        await self._send_contact("PUT", contact, request_id)

    async def _send_contact(
        self, method: str, contact: ContactInput, request_id: str | None
    ) -> None:
        # Adding (POST) and changing (PUT) send the same body to the same path.
        await self._call(
            method,
            "/phonebook/contacts",
            f"{method} /phonebook/contacts",
            _contact_result,
            content=request_bodies.contact_node(contact),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def delete_contact(
        self, contact_id: str, *, request_id: str | None = None
    ) -> None:
        """Remove a contact."""
        await self._call(
            "DELETE",
            f"/phonebook/contacts/{path_segment(contact_id, 'contact id')}",
            "DELETE /phonebook/contacts/{id}",
            _contact_result,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
