"""The words of the operator's "People" panel (accounts at run time, static/roster.js), Dutch and English; i18n.py
takes them into its catalogue."""

STRINGS: dict[str, dict[str, str]] = {
    "roster.title": {"nl": "Mensen en inloggen", "en": "People and sign-in"},
    "roster.add": {"nl": "Iemand toevoegen", "en": "Add a person"},
    "roster.role": {"nl": "Rol", "en": "Role"},
    "roster.role.responder": {"nl": "Vrijwilliger van de patrouille", "en": "Patrol volunteer"},
    "roster.role.operator": {"nl": "Centralist", "en": "Operator"},
    "roster.name": {"nl": "Naam", "en": "Name"},
    "roster.phone": {"nl": "Telefoonnummer (voor de centralist)", "en": "Phone number (for the desk)"},
    "roster.language": {"nl": "Taal van de app", "en": "Language of the app"},
    "roster.skills": {"nl": "Kan", "en": "Skills"},
    "roster.shift": {
        "nl": "Dienst (bijv. 01:00-05:00, leeg: altijd)",
        "en": "Shift (e.g. 01:00-05:00, empty: any time)",
    },
    "roster.team": {
        "nl": "Team (een patrouillegebied kan aan een team gebonden zijn)",
        "en": "Team (a patrol zone may be bound to a team)",
    },
    "roster.submit": {"nl": "Toevoegen en inloglink maken", "en": "Add and make a sign-in link"},
    "roster.people": {"nl": "Wie kan inloggen", "en": "Who can sign in"},
    "roster.nobody": {
        "nl": "Nog niemand toegevoegd. De eerste centralist logt in met het token uit de instellingen.",
        "en": "Nobody added yet. The first operator signs in with the token from the settings.",
    },
    "roster.streams": {"nl": "{n} open verbinding(en)", "en": "{n} open connection(s)"},
    "roster.new_link": {"nl": "Nieuwe inloglink", "en": "New sign-in link"},
    "roster.revoke": {"nl": "Intrekken", "en": "Revoke"},
    "roster.revoke_confirm": {
        "nl": "{name} kan dan direct niet meer inloggen, en wat open staat op hun telefoon sluit. Intrekken?",
        "en": "{name} will no longer be able to sign in, at once, and what is open on their phone closes. Revoke?",
    },
    "roster.new_link_confirm": {
        "nl": "De oude inloglink van {name} werkt dan niet meer. Nieuwe link maken?",
        "en": "{name}'s old sign-in link stops working. Make a new one?",
    },
    "roster.revoked": {"nl": "{name} is ingetrokken.", "en": "{name} was revoked."},
    "roster.added": {"nl": "{name} is toegevoegd.", "en": "{name} was added."},
    "roster.link_title": {"nl": "Inloglink voor {name}", "en": "Sign-in link for {name}"},
    "roster.link_help": {
        "nl": "Laat {name} deze code scannen met de camera van de telefoon, of stuur de link. Alleen nu te zien:"
        " een nieuwe link maakt deze ongeldig.",
        "en": "Have {name} scan this code with their phone's camera, or send them the link. Shown only now: a new"
        " link ends this one.",
    },
    "roster.qr": {"nl": "QR-code van de inloglink", "en": "QR code of the sign-in link"},
    "roster.link": {"nl": "Inloglink", "en": "Sign-in link"},
    "roster.copy": {"nl": "Link kopiëren", "en": "Copy the link"},
    "roster.copied": {"nl": "Link gekopieerd.", "en": "Link copied."},
    "roster.done": {"nl": "Klaar", "en": "Done"},
    "roster.signed_out": {
        "nl": "Je toegang is ingetrokken of vervangen. Vraag de centralist om een nieuwe inloglink.",
        "en": "Your access was revoked or replaced. Ask the desk for a new sign-in link.",
    },
}
