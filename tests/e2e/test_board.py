"""The board in a real browser: drag a card, the lost dialog, the keyboard "Move to…" path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from pipeline import services
from pipeline.models import Opportunity
from tests.factories import OpportunityFactory, PipelineFactory
from tests.pipeline.factories import LostReasonFactory, bulk_deals

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def board(rep):
    pipeline = PipelineFactory(name="Sales", is_default=True)
    stages = {s.name: s for s in pipeline.stages.all()}
    deal = OpportunityFactory(
        owner=rep, pipeline=pipeline, name="Acme rollout", amount=Decimal("1000")
    )
    OpportunityFactory(owner=rep, pipeline=pipeline, name="Globex pilot", amount=Decimal("500"))
    OpportunityFactory(
        owner=rep,
        pipeline=pipeline,
        stage=stages["Proposal"],
        name="Initech",
        amount=Decimal("300"),
    )
    LostReasonFactory(label="Price")
    return {"pipeline": pipeline, "stages": stages, "deal": deal}


def header(page, stage):
    return page.locator(f"#stage-{stage.pk}-header")


def drag(page, source, target):
    """SortableJS runs in pointer-event fallback mode: drag with real mouse steps."""
    box, goal = source.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    steps = 12
    for i in range(1, steps + 1):
        page.mouse.move(
            box["x"]
            + box["width"] / 2
            + (goal["x"] + 40 - box["x"] - box["width"] / 2) * i / steps,
            box["y"]
            + box["height"] / 2
            + (goal["y"] + 20 - box["y"] - box["height"] / 2) * i / steps,
        )
        page.wait_for_timeout(25)
    page.mouse.up()


def test_rep_drags_a_card_to_the_next_column_and_it_stays_there(login, live_server, rep, board):
    page = login(rep)
    page.goto(f"{live_server.url}/pipeline/")
    qualification, proposal = board["stages"]["Qualification"], board["stages"]["Proposal"]
    assert header(page, qualification).get_by_test_id("amount").inner_text() == "1,500"
    assert header(page, proposal).get_by_test_id("amount").inner_text() == "300"
    card = page.locator(f"#card-{board['deal'].pk}")
    drag(page, card, page.locator(f"#stage-{proposal.pk}-cards"))
    expect(page.locator(f"#stage-{proposal.pk}-header [data-testid=amount]")).to_have_text("1,300")
    assert header(page, qualification).get_by_test_id("amount").inner_text() == "500"
    assert header(page, qualification).get_by_test_id("count").inner_text() == "1"
    page.reload()
    assert page.locator(f"#stage-{proposal.pk}-cards #card-{board['deal'].pk}").is_visible()
    assert Opportunity.objects.get(pk=board["deal"].pk).stage == proposal


def test_dropping_on_lost_opens_the_reason_dialog(login, live_server, rep, board):
    page = login(rep)
    page.goto(f"{live_server.url}/pipeline/")
    lost = board["stages"]["Closed Lost"]
    card = page.locator(f"#card-{board['deal'].pk}")
    drag(page, card, page.locator(f"#drop-{lost.pk}"))
    dialog = page.locator("#lost-dialog")
    dialog.wait_for(state="visible")
    page.wait_for_selector("#lost-reason option:text('Price')", state="attached")
    page.select_option("#lost-reason", label="Price")
    dialog.get_by_role("button", name="Mark lost").click()
    page.locator(f"#card-{board['deal'].pk}").wait_for(state="detached")
    assert "marked lost" in page.locator("#messages").inner_text()
    deal = Opportunity.objects.get(pk=board["deal"].pk)
    assert (deal.stage, deal.lost_reason.label) == (lost, "Price")


def test_cancelling_the_lost_dialog_puts_the_card_back(login, live_server, rep, board):
    page = login(rep)
    page.goto(f"{live_server.url}/pipeline/")
    qualification, lost = board["stages"]["Qualification"], board["stages"]["Closed Lost"]
    drag(page, page.locator(f"#card-{board['deal'].pk}"), page.locator(f"#drop-{lost.pk}"))
    page.locator("#lost-dialog").wait_for(state="visible")
    page.locator("#lost-dialog").get_by_role("button", name="Cancel", exact=True).last.click()
    page.locator(f"#stage-{qualification.pk}-cards #card-{board['deal'].pk}").wait_for()
    assert Opportunity.objects.get(pk=board["deal"].pk).stage == qualification


def test_keyboard_move_to_menu(login, live_server, rep, board):
    page = login(rep)
    page.goto(f"{live_server.url}/pipeline/")
    negotiation = board["stages"]["Negotiation"]
    page.get_by_role("button", name="Move Acme rollout to…").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#move-dialog")
    dialog.wait_for(state="visible")
    dialog.get_by_role("button", name="Negotiation (80%)").focus()
    page.keyboard.press("Enter")
    page.locator(f"#stage-{negotiation.pk}-cards #card-{board['deal'].pk}").wait_for()
    assert header(page, negotiation).get_by_test_id("count").inner_text() == "1"
    assert Opportunity.objects.get(pk=board["deal"].pk).stage == negotiation


def test_manager_renames_a_stage_in_settings(login, live_server, manager):
    pipeline = PipelineFactory(name="Sales", is_default=True)
    proposal = pipeline.stages.get(name="Proposal")
    page = login(manager)
    page.goto(f"{live_server.url}/pipeline/settings/{pipeline.pk}/")
    row = page.locator(f"tr[data-stage='{proposal.pk}']")
    row.get_by_label("Name").fill("Proposal sent")
    row.get_by_label("Probability %").fill("55")
    row.get_by_role("button", name="Save").click()
    page.get_by_text("Stage saved.").wait_for()
    proposal.refresh_from_db()
    assert (proposal.name, proposal.probability) == ("Proposal sent", 55)


def test_a_conflicting_move_gets_the_current_card_back(login, live_server, rep, board):
    page = login(rep)
    page.goto(f"{live_server.url}/pipeline/")
    negotiation, proposal = board["stages"]["Negotiation"], board["stages"]["Proposal"]
    # Someone else moves the deal to Negotiation after this board was drawn.
    deal = Opportunity.objects.get(pk=board["deal"].pk)
    services.move_opportunity(opportunity=deal, to_stage=negotiation, expected_version=1, by=rep)
    drag(page, page.locator(f"#card-{deal.pk}"), page.locator(f"#stage-{proposal.pk}-cards"))
    page.locator(f"#stage-{negotiation.pk}-cards #card-{deal.pk}").wait_for()
    assert "Someone else changed this deal first" in page.locator("#messages").inner_text()
    assert page.locator(f"#card-{deal.pk}").get_attribute("data-version") == "2"
    assert header(page, negotiation).get_by_test_id("count").inner_text() == "1"
    assert Opportunity.objects.get(pk=deal.pk).stage == negotiation


def test_a_long_column_loads_more_cards_on_scroll(login, live_server, rep, board):
    proposal = board["stages"]["Proposal"]
    bulk_deals(70, owners=[rep], stages=[proposal], start=1000)
    page = login(rep)
    page.goto(f"{live_server.url}/pipeline/")
    cards = page.locator(f"#stage-{proposal.pk}-cards .board-card")
    assert cards.count() == 50
    page.locator(f"#stage-{proposal.pk}-cards .board-more").scroll_into_view_if_needed()
    expect(page.locator(f"#stage-{proposal.pk}-cards .board-card")).to_have_count(71)


def test_manager_reorders_stages_by_drag(login, live_server, manager):
    pipeline = PipelineFactory(name="Sales", is_default=True)
    first, second = pipeline.stages.order_by("order")[:2]
    page = login(manager)
    page.goto(f"{live_server.url}/pipeline/settings/{pipeline.pk}/")
    handle = page.locator(f"tr[data-stage='{second.pk}'] .drag-handle")
    goal = page.locator(f"tr[data-stage='{first.pk}'] .drag-handle")
    with page.expect_response(lambda r: "/stages/order/" in r.url) as response:
        drag(page, handle, goal)
    assert response.value.status == 204
    assert list(pipeline.stages.order_by("order").values_list("pk", flat=True))[:2] == [
        second.pk,
        first.pk,
    ]
