"""Remote HTML through the allow-list, and names reduced to plain text (SECURITY I-6)."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kunveno.adapters.activitypub.sanitize import (
    ALLOWED_TAGS,
    LINK_REL,
    URL_SCHEMES,
    plain_text,
    sanitize_html,
)

MASTODON_MENTION = (
    '<p><span class="h-card"><a href="https://mamot.fr/@retiolus" class="u-url mention">'
    "@<span>retiolus</span></a></span> hello</p>"
)


class TagCollector(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_in(markup: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    return collector.tags


def test_mastodon_mention_markup_survives_with_our_rel() -> None:
    assert sanitize_html(MASTODON_MENTION) == (
        '<p><span class="h-card"><a href="https://mamot.fr/@retiolus" class="u-url mention" '
        f'rel="{LINK_REL}">@<span>retiolus</span></a></span> hello</p>'
    )


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>hi<script>alert(1)</script></p>", "<p>hi</p>"),
        ("<SCRIPT SRC=https://evil.example/x.js></SCRIPT>ok", "ok"),
        ('<img src="x" onerror="alert(1)">after', "after"),
        ('<p onclick="steal()" style="position:fixed">text</p>', "<p>text</p>"),
        ("<style>body{display:none}</style><b>bold</b>", "<b>bold</b>"),
        ('<iframe src="https://evil.example"></iframe>gone', "gone"),
        ('<a href="javascript:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
        ('<a href="java&#x09;script:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
        ('<a href="data:text/html,<script>x</script>">x</a>', f'<a rel="{LINK_REL}">x</a>'),
        ('<a href="/relative/to/us">x</a>', f'<a rel="{LINK_REL}">x</a>'),
        ('<a href="//evil.example/">x</a>', f'<a rel="{LINK_REL}">x</a>'),
        (
            '<a href="https://ok.example/" rel="me" target="_blank">x</a>',
            f'<a href="https://ok.example/" rel="{LINK_REL}">x</a>',
        ),
        (
            '<a href="mailto:a@b.example">m</a>',
            f'<a href="mailto:a@b.example" rel="{LINK_REL}">m</a>',
        ),
        ('<span class="h-card hidden-admin-badge">x</span>', '<span class="h-card">x</span>'),
        ('<form action="https://evil.example"><input name="pw"></form>t', "t"),
    ],
)
def test_dangerous_markup_is_reduced_to_what_is_allowed(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


def test_text_is_escaped_not_interpreted() -> None:
    assert sanitize_html("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"


@pytest.mark.parametrize(
    ("given_text", "plain"),
    [
        ("<b>Bob</b>", "Bob"),
        ("Ann &amp; Co", "Ann & Co"),
        ("  lots \n of\t  space  ", "lots of space"),
        ("<script>alert(1)</script>Eve", "Eve"),
        ("<p>one</p><p>two</p>", "one two"),
        ("line<br>break", "line break"),
        ("bell\x07and\x00nul", "bell and nul"),
        ("&lt;i&gt;literal&lt;/i&gt;", "<i>literal</i>"),
        ("I want to join !", "I want to join !"),
    ],
)
def test_plain_text(given_text: str, plain: str) -> None:
    assert plain_text(given_text) == plain


FRAGMENTS = [
    "<script>",
    "</script>",
    "<ScRiPt src=//x>",
    "<scr<script>ipt>",
    "<a href=",
    '<a href="',
    "<a href='",
    "javascript:",
    "JaVaScRiPt:",
    "java&#x09;script:",
    "&#106;avascript:",
    '"',
    "'",
    ">",
    "<",
    "</a>",
    "<img src=x onerror=",
    "<svg onload=alert(1)>",
    '<span class="',
    "<p style='",
    "<!--",
    "-->",
    "<![CDATA[",
    "<iframe srcdoc=",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    " ",
    "alert(1)",
    "https://ok.example/",
]
dirty_html = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=30).map(
    "".join
)


def starts_with_javascript(value: str) -> bool:
    squeezed = "".join(ch for ch in html.unescape(value) if not (ch.isspace() or ord(ch) < 0x20))
    return squeezed.lower().startswith("javascript:")


@settings(max_examples=400)
@given(dirty_html)
def test_sanitized_output_never_carries_script(dirty: str) -> None:
    clean = sanitize_html(dirty)
    assert "<script" not in clean.lower()
    for tag, attrs in tags_in(clean):
        assert tag in ALLOWED_TAGS
        for name, value in attrs:
            assert not name.startswith("on")
            assert name != "style"
            if value is None:
                continue
            assert not starts_with_javascript(value)
            if name == "href":
                # An http(s) URL may mention "javascript:" in its path; only the scheme runs.
                assert urlsplit(value).scheme in URL_SCHEMES
            else:
                assert "javascript:" not in html.unescape(value).lower()


@given(dirty_html)
def test_plain_text_is_one_clean_line(dirty: str) -> None:
    text = plain_text(dirty)
    assert text == " ".join(text.split())
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)
