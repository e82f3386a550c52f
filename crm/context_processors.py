from __future__ import annotations

from django.http import HttpRequest

from crm import registry
from crm.selectors import unread_notification_count


def shell(request: HttpRequest) -> dict[str, object]:
    """What the app shell needs on every page: the unread count (one COUNT, only when logged in)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notifications": unread_notification_count(user=user),
        # Features' settings pages (query-free): the Settings index and the profile tabs.
        "settings_links": registry.settings_links(user, section="index")
        + registry.settings_links(user, section="admin"),
        "profile_links": registry.settings_links(user, section="profile"),
    }
