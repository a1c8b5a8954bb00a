"""The pages' message catalogues: complete in both locales, every key used, every page rendered in each.

A key is used when a page names it (`{{key}}` in a template, `t("key"` in a script) or when it belongs to a
group whose values the server names (`tv("phase", …)`): a phase, a mode, a refusal's code, a parameter. For
those groups the values come from the rules themselves, so a new phase or refusal code without words in both
languages fails here, as does a word for a code that no longer exists.
"""

from __future__ import annotations

import ast
import html.parser
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction_engine import messages
from auction_engine.rules import MODES
from auction_engine.server import i18n
from auction_engine.server.routes.pages import PAGES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(PAGES.glob("*.html"))
SCRIPTS = sorted(p for p in PAGES.glob("*.js"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")
T_CALL = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.-]+)["']""")
TV_CALL = re.compile(r"""\btv\(\s*["']([a-z_]+)["']""")
DYNAMIC_GROUPS = {"phase", "mode", "reason", "field", "kind", "deadline", "check", "verdict", "op", "objection", "feed"}


PRINTED = ROOT / "auction_engine" / "certificates" / "page.py"  # the printable certificate, in both languages


def _page_sources() -> str:
    return "\n".join(p.read_text("utf-8") for p in [*TEMPLATES, *SCRIPTS, PRINTED])


def _phases() -> set[str]:
    found: set[str] = set()
    for path in [*(ROOT / "auction_engine" / "rules").glob("*.py"), ROOT / "auction_engine" / "market.py"]:
        found |= set(re.findall(r"""phase = ["']([a-z_]+)["']""", path.read_text("utf-8")))
    from auction_engine.rules import settlement

    return found | set(settlement.PHASES)


def _refusal_codes() -> set[str]:
    """Every code a rule, the server or a page can refuse with, read from the calls that make refusals."""
    codes: set[str] = set()
    makers = {"Rejected", "ApiError", "problem", "TileError", "CertificateLookupError"}
    for path in (ROOT / "auction_engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in makers:
                continue
            for arg in node.args[:2]:
                if (
                    isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and re.fullmatch(r"[a-z]+(_[a-z]+)*", arg.value)
                ):
                    codes.add(arg.value)
                    break
    return codes


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_a_catalogue_loads_without_a_key_defined_twice(locale: str) -> None:
    messages = i18n.catalogue(locale)
    assert len(messages) > 100


def test_both_locales_have_the_same_keys_and_placeholders() -> None:
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert sorted(set(zh) - set(en)) == [], "keys with no English"
    assert sorted(set(en) - set(zh)) == [], "keys with no Chinese"
    for key in zh:
        assert set(PLACEHOLDER.findall(zh[key])) == set(PLACEHOLDER.findall(en[key])), key


def test_every_key_a_page_names_is_in_the_catalogue() -> None:
    messages = i18n.catalogue("zh-CN")
    named = set(i18n.PLACEHOLDER.findall("\n".join(p.read_text("utf-8") for p in TEMPLATES)))
    named = {k for k in named if not k.startswith("@")}
    named |= {k for k in T_CALL.findall(_page_sources()) if not k.endswith(".")}  # "group." + value: dynamic
    assert sorted(named - set(messages)) == []


def test_every_key_in_the_catalogue_is_used() -> None:
    sources = _page_sources()
    literal = set(i18n.PLACEHOLDER.findall(sources)) | set(T_CALL.findall(sources))
    literal |= set(re.findall(r"""["']([a-z_]+\.[A-Za-z0-9_.-]+)["']""", sources))  # keys in tables, then t(key)
    groups_used = set(TV_CALL.findall(sources)) | {g for g in DYNAMIC_GROUPS if f'"{g}.' in sources}
    unused = []
    for key in i18n.catalogue("zh-CN"):
        group = key.split(".", 1)[0]
        if key in literal or key.startswith("param."):
            continue
        if group in DYNAMIC_GROUPS and group in groups_used:
            continue
        unused.append(key)
    assert unused == []


def test_every_phase_and_mode_has_words_and_no_word_names_a_phase_or_mode_that_does_not_exist() -> None:
    messages = i18n.catalogue("zh-CN")
    phases = _phases() | {"cancelled"}
    assert {k[6:] for k in messages if k.startswith("phase.")} == phases
    assert {k[5:] for k in messages if k.startswith("mode.")} == set(MODES)
    assert {k[9:] for k in messages if k.startswith("deadline.")} <= phases


def test_every_refusal_code_has_words() -> None:
    messages = i18n.catalogue("zh-CN")
    reasons = {k[7:] for k in messages if k.startswith("reason.")}
    codes = _refusal_codes()
    assert sorted(codes - reasons) == [], "refusal codes with no words in the catalogue"
    server_only = {"other", "method_not_allowed", "too_deep", "too_large", "too_long", "not_found", "unauthenticated"}
    server_only |= {"seller_cannot_offer", "seller_cannot_register"}  # command_path's table of refusals by role
    assert sorted(reasons - codes - server_only) == [], "words for refusal codes nothing makes"


def test_every_certificate_check_and_failure_has_words() -> None:
    """The certificate page names the checks a verdict passed and the one that failed (`fail("reason", …)`)."""
    messages = i18n.catalogue("zh-CN")
    named: set[str] = set()
    for path in (ROOT / "auction_engine" / "certificates").glob("*.py"):
        text = path.read_text("utf-8")
        named |= set(re.findall(r"""checks\.append\(["']([a-z_]+)["']\)""", text))
        named |= set(re.findall(r"""\bfail\(\s*["']([a-z_]+)["']""", text))
    assert named, "no check names found: the test reads the wrong files"
    assert sorted(named - {k[6:] for k in messages if k.startswith("check.")}) == []


@pytest.mark.parametrize("locale", i18n.LOCALES)
@pytest.mark.parametrize("page", [p.name for p in TEMPLATES])
def test_every_page_renders_in_every_locale(page: str, locale: str) -> None:
    text = i18n.render_page(PAGES / page, locale, "Asia/Shanghai")
    assert f'<html lang="{locale}"' in text
    assert "{{" not in text
    embedded = re.search(r'<script id="ae-i18n" type="application/json">(.*?)</script>', text, re.S)
    assert embedded is not None and json.loads(embedded.group(1)) == i18n.catalogue(locale)


class _Text(html.parser.HTMLParser):
    """The text nodes of a template outside scripts, styles and code samples."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag in ("script", "style", "pre") or "mono" in cls.split() or tag == "nav":
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "pre", "nav", "span", "b") and self.skip:
            self.skip -= 1 if tag in ("script", "style", "pre", "nav") else 0

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.texts.append(data)


@pytest.mark.parametrize("page", [p.name for p in TEMPLATES])
def test_a_template_has_no_words_of_its_own(page: str) -> None:
    parser = _Text()
    parser.feed((PAGES / page).read_text("utf-8"))
    stray = []
    for text in parser.texts:
        rest = i18n.PLACEHOLDER.sub("", text)
        rest = re.sub(r"[\s·—–()|:.,/\-↓]|openapi\.json|auction-engine receipt check", "", rest)
        if rest:
            stray.append(text.strip())
    assert stray == []


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        (None, None, None, "zh-CN"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "fr-FR,en;q=0.5,zh;q=0.8", "zh-CN"),
        (None, None, "zh-TW", "zh-CN"),
        (None, "en", "zh-CN", "en"),
        ("zh-CN", "en", "en", "zh-CN"),
        ("klingon", "en", None, "en"),
        (None, None, "en;q=0, zh;q=0.1", "zh-CN"),
        (None, None, "en;q=abc", "zh-CN"),
    ],
)
def test_the_locale_is_the_query_then_the_cookie_then_accept_language(
    query: str | None, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert i18n.negotiate(query, cookie, accept) == expected


@given(st.text(max_size=300), st.text(max_size=20), st.text(max_size=20))
def test_any_header_gives_a_supported_locale(accept: str, cookie: str, query: str) -> None:
    assert i18n.negotiate(query, cookie, accept) in i18n.LOCALES


def test_a_catalogue_file_with_a_key_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for locale in i18n.LOCALES:
        (tmp_path / locale).mkdir()
        (tmp_path / locale / "a.json").write_text('{"x.y": "1", "x.y": "2"}', "utf-8")
    monkeypatch.setattr(messages, "CATALOGUES", tmp_path)
    i18n.catalogue.cache_clear()
    try:
        with pytest.raises(i18n.CatalogueError, match="appears twice"):
            i18n.catalogue("en")
    finally:
        monkeypatch.undo()
        i18n.catalogue.cache_clear()
