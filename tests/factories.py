"""One factory per model, minimal valid defaults. App issues add theirs here or beside their tests."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Account, Contact, ContactEmail
from activities.models import Activity
from crm.models import ApiToken, Notification, OutboxMessage, Team, User
from leads.models import Lead
from pipeline.models import ContactRole, Opportunity, Pipeline, Stage


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = User.Role.REP
    password = factory.django.Password("pw")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Acme {n}")
    domain = factory.Sequence(lambda n: f"acme{n}.example")


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact with one (primary) e-mail: `email="x@y.example"` names it, `email=False`
    gives none."""

    class Meta:
        model = Contact
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @factory.post_generation
    def email(self, create: bool, extracted: object, **kwargs: object) -> None:
        if not create or extracted is False:
            return
        address = extracted if isinstance(extracted, str) else f"contact{self.pk}@people.example"
        ContactEmail.objects.create(contact=self, email=address.lower(), is_primary=True)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@company{n}.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Sequence(lambda n: f"Company {n}")


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Pipeline {n}")

    @factory.post_generation
    def stages(self, create: bool, extracted: object, **kwargs: object) -> None:
        """A usable pipeline: three open stages, one won, one lost (pass stages=False to skip)."""
        if not create or extracted is False:
            return
        for order, (name, probability, kind, category) in enumerate(
            [
                ("Qualification", 20, "open", "pipeline"),
                ("Proposal", 60, "open", "best_case"),
                ("Negotiation", 80, "open", "commit"),
                ("Closed Won", 100, "won", "closed"),
                ("Closed Lost", 0, "lost", "omitted"),
            ]
        ):
            Stage.objects.create(
                pipeline=self,
                name=name,
                order=order,
                probability=probability,
                kind=kind,
                forecast_category=category,
            )


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory, stages=False)
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n)
    probability = 50


class OpportunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Opportunity

    name = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(UserFactory)
    pipeline = factory.SubFactory(PipelineFactory)
    stage = factory.LazyAttribute(
        lambda o: (
            o.pipeline.stages.filter(kind="open").order_by("order").first()
            or StageFactory(pipeline=o.pipeline)
        )
    )
    amount = Decimal("1000.00")
    stage_entered_at = factory.LazyFunction(timezone.now)
    position = factory.Sequence(lambda n: float(n))


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    kind = Activity.Kind.NOTE
    subject = factory.Sequence(lambda n: f"Activity {n}")
    owner = factory.SubFactory(UserFactory)
    lead = factory.SubFactory(LeadFactory)


class ContactRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactRole

    opportunity = factory.SubFactory(OpportunityFactory)
    contact = factory.SubFactory(ContactFactory)
    role = ContactRole.Role.CHAMPION


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    verb = "test"
    message = factory.Sequence(lambda n: f"Message {n}")


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    """A message in the outbox (queued unless told); write real ones with crm.outbox."""

    class Meta:
        model = OutboxMessage

    kind = "test"
    from_email = "Plumb CRM <plumb@localhost>"
    to = factory.Sequence(lambda n: [f"someone{n}@example.com"])
    subject = factory.Sequence(lambda n: f"Subject {n}")
    text_body = "Hello"
    message_id = factory.Sequence(lambda n: f"<plumb.test{n}.factory@localhost>")


def make_token(user: User, scopes: list[str]) -> str:
    """Create an API token and return its text (what a client sends)."""
    from crm.services import create_api_token

    _, text = create_api_token(user=user, name="test", scopes=scopes)
    return text


__all__ = [
    "AccountFactory",
    "ActivityFactory",
    "ApiToken",
    "ContactFactory",
    "ContactRoleFactory",
    "LeadFactory",
    "NotificationFactory",
    "OpportunityFactory",
    "OutboxMessageFactory",
    "PipelineFactory",
    "StageFactory",
    "TeamFactory",
    "UserFactory",
    "make_token",
]
