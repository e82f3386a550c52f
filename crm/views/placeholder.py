"""A page for a section whose issue has not landed yet (so the shell's links never 404)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def placeholder(title: str) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, "crm/placeholder.html", {"title": title})

    view.__name__ = f"placeholder_{title.lower()}"
    return view
