"""factory_boy factories. Deals are made through the services so they have a real stage history."""

import factory

from deals.models import Account, Contact
from orgs.models import Membership, Organization, Role, User


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-123")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.REP


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Account {n}")
    industry = "Manufacturing"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@customer.test")


# Playbooks. Rows made directly (no re-evaluation is queued): tests evaluate explicitly.


class PlaybookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "playbooks.Playbook"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Playbook {n}")


class PlayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "playbooks.Play"

    playbook = factory.SubFactory(PlaybookFactory)
    organization = factory.SelfAttribute("playbook.organization")
    name = factory.Sequence(lambda n: f"Play {n}")
    condition = factory.LazyFunction(lambda: {"field": "amount", "op": "gte", "value": 0})


class PlayStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "playbooks.PlayStep"

    play = factory.SubFactory(PlayFactory)
    organization = factory.SelfAttribute("play.organization")
    title = factory.Sequence(lambda n: f"Play step {n}")
    order = factory.Sequence(lambda n: n)


class PlayQuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "playbooks.PlayQuestion"

    play = factory.SubFactory(PlayFactory)
    organization = factory.SelfAttribute("play.organization")
    text = factory.Sequence(lambda n: f"Question {n}?")
    order = factory.Sequence(lambda n: n)
