"""A readable device from a User-Agent header ("Firefox on Windows"), for the session list.

Deliberately small: the browser family and the operating system, which is what a person
needs to recognise their own sessions. Unknown agents read "Unknown browser".
"""

from __future__ import annotations

import re

_BROWSERS = (  # order matters: Edge and Opera also say "Chrome", Chrome also says "Safari"
    (r"Edg(?:e|A|iOS)?/", "Edge"),
    (r"OPR/|Opera", "Opera"),
    (r"Firefox/|FxiOS/", "Firefox"),
    (r"HeadlessChrome/", "Chrome (headless)"),
    (r"Chrome/|CriOS/|Chromium/", "Chrome"),
    (r"Safari/", "Safari"),
    (r"curl/", "curl"),
    (r"python-requests/|python-urllib", "Python script"),
)
_SYSTEMS = (
    (r"iPhone", "iPhone"),
    (r"iPad", "iPad"),
    (r"Android", "Android"),
    (r"CrOS", "ChromeOS"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"),
    (r"Linux|X11", "Linux"),
)


def describe(user_agent: str) -> str:
    """ "Firefox on Windows", "Safari on iPhone", "Unknown browser"."""
    browser = next((name for pattern, name in _BROWSERS if re.search(pattern, user_agent)), "")
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, user_agent)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"Browser on {system}" if system else "Unknown browser")
