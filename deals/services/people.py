"""Accounts and contacts. Any member of the org may create and edit them."""

from django.db import transaction

from deals.models import Account, Contact
from deals.services.common import clean_text, raise_if
from orgs.models import Membership


def _clean_account(data: dict, errors: dict, *, creating: bool) -> dict:
    out = {}
    if "name" in data or creating:
        out["name"] = clean_text(data.get("name"), "name", errors, max_length=200, required=True)
    if "industry" in data:
        out["industry"] = clean_text(data.get("industry"), "industry", errors, max_length=80)
    if "website" in data:
        site = clean_text(data.get("website"), "website", errors, max_length=200)
        if site and not site.startswith(("http://", "https://")):
            site = "https://" + site
        if site and "." not in site:
            errors["website"] = ["Enter a web address like example.com."]
        out["website"] = site
    if "notes" in data:
        out["notes"] = clean_text(data.get("notes"), "notes", errors, max_length=10000)
    return out


@transaction.atomic
def account_create(*, by: Membership, **data) -> Account:
    errors: dict = {}
    fields = _clean_account(data, errors, creating=True)
    raise_if(errors)
    return Account.objects.create(organization_id=by.organization_id, **fields)


@transaction.atomic
def account_update(*, account: Account, by: Membership, **data) -> Account:
    errors: dict = {}
    fields = _clean_account(data, errors, creating=False)
    raise_if(errors)
    for k, v in fields.items():
        setattr(account, k, v)
    Account.objects.filter(pk=account.pk, organization_id=by.organization_id).update(**fields)
    return account


def _clean_contact(by: Membership, data: dict, errors: dict, *, creating: bool) -> dict:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    out = {}
    if "name" in data or creating:
        out["name"] = clean_text(data.get("name"), "name", errors, max_length=200, required=True)
    if "email" in data:
        email = clean_text(data.get("email"), "email", errors, max_length=254)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors["email"] = ["Enter a valid email address."]
        out["email"] = email
    for field, length in (("title", 120), ("phone", 40)):
        if field in data:
            out[field] = clean_text(data.get(field), field, errors, max_length=length)
    if "account" in data:
        account = data.get("account")
        if account is not None and (
            not isinstance(account, Account) or account.organization_id != by.organization_id
        ):
            errors["account"] = ["Unknown account."]
        out["account"] = account
    return out


@transaction.atomic
def contact_create(*, by: Membership, **data) -> Contact:
    errors: dict = {}
    fields = _clean_contact(by, data, errors, creating=True)
    raise_if(errors)
    return Contact.objects.create(organization_id=by.organization_id, **fields)


@transaction.atomic
def contact_update(*, contact: Contact, by: Membership, **data) -> Contact:
    errors: dict = {}
    fields = _clean_contact(by, data, errors, creating=False)
    raise_if(errors)
    for k, v in fields.items():
        setattr(contact, k, v)
    contact.save(update_fields=list(fields))
    return contact
