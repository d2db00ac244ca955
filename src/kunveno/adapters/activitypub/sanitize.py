"""Remote HTML made safe to store and show, and remote names made plain (SECURITY I-6).

The allow-list follows Mastodon's: what peers actually send for mentions, hashtags and shortened
links survives, and nothing that can run script, load a resource or restyle the page does.
"""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "span",
        "a",
        "del",
        "pre",
        "code",
        "em",
        "strong",
        "b",
        "i",
        "u",
        "ul",
        "ol",
        "li",
        "blockquote",
    }
)
# Only the microformat classes Mastodon renders; free classes would let a peer borrow our CSS.
ALLOWED_CLASSES = {
    "span": {"h-card", "mention", "hashtag", "invisible", "ellipsis"},
    "a": {"u-url", "mention", "hashtag"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"

_CONTENT_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    # "rel" is not listed: nh3 sets it on every link, so a peer cannot choose its own.
    attributes={"a": {"href"}},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    allowed_classes={tag: set(classes) for tag, classes in ALLOWED_CLASSES.items()},
    # A relative link in remote content would resolve against our host, not the author's.
    url_relative="deny",
)
_TEXT_CLEANER = nh3.Cleaner(tags=set(), attributes={}, link_rel=None)

# Block boundaries become spaces, or "<p>a</p><p>b</p>" would read as "ab".
_BLOCK_BOUNDARY = re.compile(r"<\s*(?:br|/\s*(?:p|li|div|h[1-6]|blockquote|pre|tr|td))\b", re.I)


def sanitize_html(html_text: str) -> str:
    """Remote HTML reduced to the allow-list; links get ``rel="nofollow noopener noreferrer"``."""
    return _CONTENT_CLEANER.clean(html_text)


def plain_text(html_or_text: str) -> str:
    """Text with every tag stripped, entities decoded, control characters dropped and
    whitespace collapsed: for names, titles and Mobilizon's ``participationMessage``."""
    spaced = _BLOCK_BOUNDARY.sub(
        lambda match: " " + match.group(0), _controls_to_spaces(html_or_text)
    )
    # Entities can encode control characters too, so they are filtered again once decoded.
    text = _controls_to_spaces(html.unescape(_TEXT_CLEANER.clean(spaced)))
    return " ".join(text.split())


def _controls_to_spaces(text: str) -> str:
    # The HTML parser silently deletes NUL; as a space it still separates the words around it.
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
