"""The gettext catalogues (basestation/dispatch/locale), held to the code: the template holds exactly the keys
that extraction finds in the Python, the templates and the scripts (as `make i18n` runs it), every language has
each of them written out (a plural in each of the language's forms) and none fuzzy, and a text's placeholders are
the same in every language."""

import re
import string
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

from basestation.dispatch import i18n

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = i18n.LOCALE / f"{i18n.DOMAIN}.pot"


@cache
def _extracted() -> frozenset[str]:
    """The keys in the code, by the mapping and the keywords `make i18n` uses (both read from where it reads them)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)  # type: ignore[no-untyped-call]  # Babel leaves it unannotated
    found = re.search(r"^I18N_KEYWORDS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None
    keywords = parse_keywords(found.group(1).replace("-k ", "").split())
    # A plural's key comes as (key, key), its msgid and msgid_plural.
    return frozenset(
        message if isinstance(message, str) else str(message[0])
        for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords)
    )


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=i18n.DOMAIN)


def _key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _forms(message: Message) -> tuple[str, ...]:
    """A message's text, or its plural forms."""
    return (message.string,) if isinstance(message.string, str) else tuple(message.string or ())


def _ids(catalog: Catalog) -> set[str]:
    return {_key(m) for m in catalog if m.id}


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@cache
def _po(lang: str) -> Catalog:
    return _read(i18n.LOCALE / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po", lang)


def test_the_template_holds_exactly_the_keys_the_code_uses() -> None:
    used = _extracted()
    assert len(used) > 300  # the extraction found the calls in all three kinds of file
    assert all(re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key) for key in used), "a key built in a t() call"
    template = _ids(_read(TEMPLATE))
    assert used - template == set(), "used but not in the template: run make i18n"
    assert template - used == set(), "in the template but used nowhere: run make i18n"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_each_language_has_every_key_written_out_and_nothing_fuzzy_or_obsolete(lang: str) -> None:
    po = _po(lang)
    assert _ids(po) == _ids(_read(TEMPLATE)), "run make i18n"
    assert not po.fuzzy and not po.obsolete
    assert [_key(m) for m in po if m.id and (m.fuzzy or not all(form.strip() for form in _forms(m)))] == []
    # What the service serves is what the file says.
    assert i18n.CATALOGUES[lang] == {_key(m): str(m.string) for m in po if isinstance(m.id, str) and m.id}
    assert i18n.PLURALS[lang] == {_key(m): _forms(m) for m in po if isinstance(m.id, tuple)}
    assert all(len(forms) == po.num_plurals for forms in i18n.PLURALS[lang].values())


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_the_placeholders_are_the_same_as_in_english(lang: str) -> None:
    english = i18n.CATALOGUES["en"]
    differ = {
        key: text for key, text in i18n.CATALOGUES[lang].items() if _placeholders(text) != _placeholders(english[key])
    }
    assert differ == {}
    # Every plural form names the count, {n}, as the general English form does: "1 minute ago" is "{n} minute ago".
    for key, forms in i18n.PLURALS[lang].items():
        assert all(_placeholders(form) == _placeholders(i18n.PLURALS["en"][key][-1]) for form in forms), key
        assert "n" in _placeholders(forms[-1]), key


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [
        ("nl", 1, "1 minuut geleden"),
        ("en", 1, "1 minute ago"),
        ("nl", 2, "2 minuten geleden"),
        ("en", 59, "59 minutes ago"),
    ],
)
def test_a_plural_takes_the_form_of_its_count_by_the_language_rule(lang: str, n: int, expected: str) -> None:
    assert i18n.plural(lang, "handover.script.ago", n) == expected


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_text_formats_with_its_placeholders_and_names_each_once(lang: str) -> None:
    texts = [*i18n.CATALOGUES[lang].items(), *((k, f) for k, forms in i18n.PLURALS[lang].items() for f in forms)]
    for key, text in texts:
        fields = _placeholders(text)
        assert all(field.isidentifier() for field in fields), key
        text.format(**dict.fromkeys(fields, "x"))
        # The scripts' t() replaces a placeholder's first occurrence only.
        assert all(text.count("{" + field + "}") == 1 for field in fields), key


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_page_carries_every_key_its_scripts_use_and_not_the_servers_own(lang: str) -> None:
    static = ROOT / "basestation" / "dispatch" / "web" / "static"
    keywords = {"t": None}
    in_scripts = {str(m) for _, _, m, _, _ in extract_from_dir(static, [("**.js", "javascript")], {}, keywords)}
    assert len(in_scripts) > 100
    page = i18n.catalogue(lang)
    assert in_scripts - set(page) == set()
    assert not any(key.startswith(i18n.SERVER_ONLY) for key in page)
    assert len(page) < len(i18n.CATALOGUES[lang])
