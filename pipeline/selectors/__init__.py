"""Reads shared by the board, the deal pages, the deal figures of the account pages, and the API.

Everything starts from `Opportunity.objects.visible_to(user)`.
"""

from __future__ import annotations

from pipeline.selectors.accounts import AccountDeals, AccountTotals, account_deals, with_open_deals
from pipeline.selectors.board import (
    CARDS_PER_PAGE,
    Board,
    BoardFilters,
    Card,
    Column,
    StageHeader,
    board,
    board_cards,
    card_from,
    card_source,
    filtered_opportunities,
    more_cards,
    pipeline_stages,
    stage_headers,
)
from pipeline.selectors.contacts import DealContacts, contact_deals, deal_contacts
from pipeline.selectors.deals import (
    OpportunityDetail,
    StageStep,
    opportunity_detail,
    opportunity_for,
)
from pipeline.selectors.pipelines import default_pipeline

__all__ = [
    "CARDS_PER_PAGE",
    "AccountDeals",
    "AccountTotals",
    "Board",
    "BoardFilters",
    "Card",
    "Column",
    "DealContacts",
    "OpportunityDetail",
    "StageHeader",
    "StageStep",
    "account_deals",
    "board",
    "board_cards",
    "card_from",
    "card_source",
    "contact_deals",
    "deal_contacts",
    "default_pipeline",
    "filtered_opportunities",
    "more_cards",
    "opportunity_detail",
    "opportunity_for",
    "pipeline_stages",
    "stage_headers",
    "with_open_deals",
]
