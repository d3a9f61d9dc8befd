"""The aftercare catalogue: every referral can be read in Dutch and English and reached somehow, victim support is
in it, the ids stored with resolved incidents keep their meaning, and aftercare() gives one language's card."""

import re

import pytest

from basestation.dispatch.core.referrals import ENTRIES, GROUPS, REFERRALS, Referral, aftercare, catalogue, everything

# Ids in use before contact details came: resolved incidents in stores name them.
STORED_IDS = ("wellbeing-office", "wellbeing-roadmap", "peer-listener", "ggd-social-safety", "are-you-ok")
PHONE = re.compile(r"^0[89]00 \d{4}$|^0\d{1,3} \d{6,8}$")


@pytest.mark.parametrize("r", ENTRIES, ids=[r.id for r in ENTRIES])
def test_every_referral_speaks_both_languages_and_can_be_reached(r: Referral) -> None:
    doc = REFERRALS[r.id]
    for lang in ("nl", "en"):
        assert doc[lang].strip() and doc["about"][lang].strip(), lang
        care = aftercare(doc["id"], lang)
        assert care is not None
        assert care["contacts"] or care["reach"], "nothing to reach it by"
    assert doc["group"] in GROUPS
    assert doc["about"]["nl"] != doc["about"]["en"]
    if doc["phone"]:
        assert PHONE.match(doc["phone"]), doc["phone"]
    if doc["email"]:
        assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", doc["email"])
    if doc["web"]:
        assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", doc["web"]) and "/" not in doc["web"]


def test_victim_support_is_there_with_its_numbers() -> None:
    victims = {r.id: r for r in ENTRIES if r.group == "victims"}
    assert set(victims) == {"slachtofferhulp", "centrum-seksueel-geweld"}
    assert (victims["slachtofferhulp"].phone, victims["slachtofferhulp"].web) == ("0900 0101", "slachtofferhulp.nl")
    csg = victims["centrum-seksueel-geweld"]
    assert (csg.phone, csg.free_call, csg.web) == ("0800 0188", True, "centrumseksueelgeweld.nl")
    # Victim support comes first: it is what a patrol's aftercare most often is.
    assert [r.group for r in ENTRIES[:2]] == ["victims", "victims"]


def test_stored_ids_keep_their_meaning_and_the_api_shape_only_grows() -> None:
    assert set(STORED_IDS) <= set(REFERRALS)
    assert REFERRALS["wellbeing-office"]["contact"] == "studentwellbeing@sea.leidenuniv.nl"
    assert REFERRALS["wellbeing-office"]["en"] == "Leiden University Student Well-being Office"
    for doc in catalogue():
        assert {"id", "nl", "en", "contact"} <= set(doc)
        assert {"group", "about", "phone", "email", "web", "hours", "reach", "free_call"} <= set(doc)
    assert [d["id"] for d in catalogue()] == list(REFERRALS)
    catalogue()[0]["nl"] = "changed"  # a caller's copy: the catalogue itself stays as it is
    assert catalogue()[0]["nl"] != "changed"


def test_aftercare_gives_one_language() -> None:
    nl = aftercare("centrum-seksueel-geweld", "nl")
    en = aftercare("centrum-seksueel-geweld", "en")
    assert nl is not None and en is not None
    assert nl == {
        "id": "centrum-seksueel-geweld",
        "lang": "nl",
        "group": "victims",
        "name": "Centrum Seksueel Geweld",
        "about": REFERRALS["centrum-seksueel-geweld"]["about"]["nl"],
        "contacts": [
            {"kind": "phone", "text": "0800 0188", "href": "tel:08000188", "note": "gratis, dag en nacht"},
            {
                "kind": "web",
                "text": "centrumseksueelgeweld.nl",
                "href": "https://centrumseksueelgeweld.nl",
                "note": None,
            },
        ],
        "reach": None,
        "url": "/ui/aftercare/centrum-seksueel-geweld?lang=nl",
    }
    assert en["about"] == REFERRALS["centrum-seksueel-geweld"]["about"]["en"]
    assert en["contacts"][0]["note"] == "free, day and night" and en["url"].endswith("?lang=en")
    office = aftercare("wellbeing-office", "en")
    assert office is not None and office["contacts"] == [
        {
            "kind": "email",
            "text": "studentwellbeing@sea.leidenuniv.nl",
            "href": "mailto:studentwellbeing@sea.leidenuniv.nl",
            "note": None,
        }
    ]
    listener = aftercare("peer-listener", "en")
    assert listener is not None and listener["contacts"] == [] and "association" in str(listener["reach"])
    support = aftercare("slachtofferhulp", "en")
    assert support is not None and support["contacts"][0] == {
        "kind": "phone",
        "text": "0900 0101",
        "href": "tel:09000101",
        "note": None,
    }


def test_an_unknown_id_or_language() -> None:
    assert aftercare("huisarts", "nl") is None
    assert aftercare("", "en") is None
    fallback = aftercare("slachtofferhulp", "de")
    assert fallback is not None and fallback["lang"] == "nl"
    assert [c["id"] for c in everything("en")] == list(REFERRALS)
