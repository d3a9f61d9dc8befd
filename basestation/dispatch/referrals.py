"""Aftercare a responder can point a person to when closing an incident: the well-being resources of Leiden
University and the city (the university's student well-being roadmap). Shown in Dutch and English."""

from typing import Any

REFERRALS: dict[str, dict[str, Any]] = {
    "wellbeing-office": {
        "nl": "Student Well-being Office van de Universiteit Leiden",
        "en": "Leiden University Student Well-being Office",
        "contact": "studentwellbeing@sea.leidenuniv.nl",
    },
    "wellbeing-roadmap": {
        "nl": "Routekaart studentenwelzijn: waar je terechtkunt, binnen en buiten de universiteit",
        "en": "Student well-being roadmap: where to turn, inside and outside the university",
        "contact": "studentwellbeing@sea.leidenuniv.nl",
    },
    "peer-listener": {
        "nl": "Vertrouwenspersoon (peer listener) van de eigen studentenvereniging",
        "en": "Confidential peer listener of the student association",
        "contact": None,
    },
    "ggd-social-safety": {
        "nl": "GGD Hollands Midden: sociale veiligheid",
        "en": "GGD Hollands Midden: social safety",
        "contact": None,
    },
    "are-you-ok": {
        "nl": "Are you OK? (Rutgers): grensoverschrijdend gedrag voorkomen",
        "en": "Are you OK? (Rutgers): preventing sexually transgressive behaviour",
        "contact": None,
    },
}


def catalogue() -> list[dict[str, Any]]:
    return [{"id": key, **value} for key, value in REFERRALS.items()]
