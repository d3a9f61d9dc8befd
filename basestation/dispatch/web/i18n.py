"""Every string the web app shows, in Dutch and English, and how a request's language is chosen.

Dutch is the default: the key rings are handed out in Leiden. A browser that prefers English gets English; the
language switch stores the choice in a cookie, which wins over the browser's preference.
"""

from collections.abc import Callable

from basestation.dispatch.web import strings_accounts

LANGUAGES = ("nl", "en")
DEFAULT = "nl"
COOKIE = "nightwatch_lang"

STRINGS: dict[str, dict[str, str]] = {
    "app.title": {"nl": "Nightwatch", "en": "Nightwatch"},
    "app.skip": {"nl": "Naar de inhoud", "en": "Skip to content"},
    "lang.label": {"nl": "Taal", "en": "Language"},
    "lang.nl": {"nl": "Nederlands", "en": "Nederlands"},
    "lang.en": {"nl": "English", "en": "English"},
    # Nightwatch is no replacement for 112: every page says so, in both languages at once (render.render).
    "n112.call": {"nl": "Bij nood: bel 112.", "en": "In an emergency, call 112."},
    "n112.not": {"nl": "Nightwatch vervangt 112 niet.", "en": "Nightwatch does not replace 112."},
    # The public walk-me-home page (/walk, walk.js): read by someone alone at night, maybe scared: short words.
    "walk.title": {"nl": "Loop met me mee naar huis", "en": "Walk me home"},
    "walk.intro": {
        "nl": "Iemand van de nachtpatrouille komt naar je toe en loopt met je mee. Gratis, zonder account.",
        "en": "A member of the night patrol comes to you and walks you home. Free, no account needed.",
    },
    "walk.closed": {
        "nl": "De nachtpatrouille neemt nu geen verzoeken aan.",
        "en": "The night patrol is not taking requests right now.",
    },
    "walk.hours": {"nl": "Openingstijden: {hours} uur.", "en": "Hours: {hours}."},
    "walk.call_instead": {
        "nl": "Bel de patrouille: {phone}. Bij nood: 112.",
        "en": "Call the patrol: {phone}. In an emergency: 112.",
    },
    "walk.name": {"nl": "Je naam", "en": "Your name"},
    "walk.phone": {"nl": "Je telefoonnummer", "en": "Your phone number"},
    "walk.phone_hint": {
        "nl": "Alleen voor de patrouille, om je te kunnen bellen.",
        "en": "Only for the patrol, so they can call you.",
    },
    "walk.where": {"nl": "Waar ben je?", "en": "Where are you?"},
    "walk.locate": {"nl": "Gebruik mijn locatie", "en": "Use my location"},
    "walk.locate_consent": {
        "nl": "Je locatie wordt alleen verstuurd als je op Versturen drukt, en alleen naar de patrouille.",
        "en": "Your location is only sent when you press Send, and only to the patrol.",
    },
    "walk.locating": {"nl": "Locatie zoeken...", "en": "Finding your location..."},
    "walk.located": {
        "nl": "Locatie gevonden. Klopt de speld niet? Tik op de kaart.",
        "en": "Location found. Pin wrong? Tap the map.",
    },
    "walk.locate_failed": {
        "nl": "Je locatie is niet gevonden. Tik op de kaart of beschrijf waar je bent.",
        "en": "Your location could not be found. Tap the map or describe where you are.",
    },
    "walk.map_hint": {"nl": "Of tik op de kaart waar je bent.", "en": "Or tap the map where you are."},
    "walk.you_are_here": {"nl": "Hier ben ik", "en": "I am here"},
    "walk.where_text": {
        "nl": "Of beschrijf het (straat, café, station)",
        "en": "Or describe it (street, bar, station)",
    },
    "walk.destination": {"nl": "Waar ga je naartoe?", "en": "Where are you going?"},
    "walk.send": {"nl": "Versturen", "en": "Send"},
    "walk.sending": {"nl": "Versturen...", "en": "Sending..."},
    "walk.need_where": {
        "nl": "Geef aan waar je bent: je locatie, een speld op de kaart of een beschrijving.",
        "en": "Say where you are: your location, a pin on the map or a description.",
    },
    "walk.reference": {"nl": "Je referentie", "en": "Your reference"},
    "walk.reference_hint": {
        "nl": "Noem deze als je de patrouille belt.",
        "en": "Give it if you call the patrol.",
    },
    "walk.status.looking": {
        "nl": "Verstuurd. We zoeken iemand van de patrouille...",
        "en": "Sent. Finding a patrol member...",
    },
    "walk.status.nobody": {
        "nl": "Er is nu niemand van de patrouille vrij. De meldkamer weet het.",
        "en": "Nobody of the patrol is free right now. The desk knows.",
    },
    "walk.status.coming": {"nl": "Er komt iemand van de patrouille naar je toe.", "en": "A patrol member is coming."},
    "walk.status.coming_name": {
        "nl": "{name} van de patrouille komt naar je toe.",
        "en": "{name} of the patrol is coming.",
    },
    "walk.status.arrived": {"nl": "De patrouille is bij je.", "en": "The patrol is with you."},
    "walk.status.done": {"nl": "Afgerond. Fijn dat je thuis bent.", "en": "Done. Glad you are home."},
    "walk.status.cancelled": {"nl": "Je verzoek is geannuleerd.", "en": "Your request is cancelled."},
    "walk.eta": {"nl": "Verwacht rond {time}.", "en": "Expected around {time}."},
    "walk.cancel": {"nl": "Annuleer mijn verzoek", "en": "Cancel my request"},
    "walk.cancel_confirm": {
        "nl": "Weet je het zeker? De patrouille komt dan niet.",
        "en": "Are you sure? The patrol will not come.",
    },
    "walk.again": {"nl": "Nieuw verzoek", "en": "New request"},
    "walk.aftercare": {"nl": "Wil je erover praten?", "en": "Want to talk about it?"},
    "walk.print": {"nl": "Afdrukken of bewaren", "en": "Print or keep"},
    "walk.error.blocked": {
        "nl": "Dit nummer kan hier geen verzoek doen. Bij nood: bel 112.",
        "en": "This number cannot make a request here. In an emergency, call 112.",
    },
    "walk.error.limit": {
        "nl": "Te veel verzoeken. Bel de patrouille: {phone}. Bij nood: 112.",
        "en": "Too many requests. Call the patrol: {phone}. In an emergency: 112.",
    },
    "walk.error.open": {
        "nl": "Er loopt al een verzoek voor dit nummer. Bel de patrouille: {phone}.",
        "en": "A request for this number is already open. Call the patrol: {phone}.",
    },
    "walk.error.input": {"nl": "Controleer wat je invulde: {detail}", "en": "Please check what you entered: {detail}"},
    "walk.error.network": {
        "nl": "Geen verbinding. Probeer het opnieuw, of bel {phone}. Bij nood: 112.",
        "en": "No connection. Try again, or call {phone}. In an emergency: 112.",
    },
    # The operators' desk for requests without a ring (partials/walk_desk.html, desk.js).
    "desk.walk": {"nl": "Loop-met-me-mee-pagina", "en": "Walk-me-home page"},
    "desk.walk_open": {"nl": "Open: neemt verzoeken aan", "en": "Open: taking requests"},
    "desk.walk_closed": {"nl": "Gesloten", "en": "Closed"},
    "desk.walk_by_operator": {"nl": "met de hand gezet", "en": "set by hand"},
    "desk.walk_always": {"nl": "altijd open", "en": "always open"},
    "desk.walk_by_hours": {"nl": "volgens de tijden {hours}", "en": "by the hours {hours}"},
    "desk.walk_open_now": {"nl": "Nu openen", "en": "Open now"},
    "desk.walk_close_now": {"nl": "Nu sluiten", "en": "Close now"},
    "desk.walk_follow_hours": {"nl": "Terug naar de tijden", "en": "Back to the hours"},
    "desk.block_number": {"nl": "Nummer blokkeren", "en": "Block a number"},
    "desk.block_reason": {"nl": "Reden (optioneel)", "en": "Reason (optional)"},
    "desk.block": {"nl": "Blokkeren", "en": "Block"},
    "desk.blocked": {"nl": "Geblokkeerde nummers", "en": "Blocked numbers"},
    "desk.unblock": {"nl": "Deblokkeren", "en": "Unblock"},
    "desk.block_caller": {"nl": "Dit nummer blokkeren", "en": "Block this number"},
    "desk.block_confirm": {
        "nl": "{phone} blokkeren? Dit nummer kan dan geen verzoeken meer doen.",
        "en": "Block {phone}? This number can then make no more requests.",
    },
    "desk.block_from_board": {"nl": "geblokkeerd vanaf het bord", "en": "blocked from the board"},
    "desk.blocked_now": {"nl": "{phone} is geblokkeerd.", "en": "{phone} is blocked."},
    "desk.place": {"nl": "Op de kaart zetten", "en": "Place on the map"},
    "desk.place_hint": {
        "nl": "Klik op de kaart waar de persoon is (Esc: annuleren).",
        "en": "Click the map where the person is (Esc: cancel).",
    },
    "desk.placed": {
        "nl": "Geplaatst; de dichtstbijzijnde patrouille krijgt het.",
        "en": "Placed; the nearest patrol gets it.",
    },
    "desk.source.walk": {"nl": "via de loop-met-me-mee-pagina", "en": "from the walk-me-home page"},
    "desk.source.phone": {"nl": "telefoon", "en": "phone call"},
    "desk.source.telephony": {"nl": "via de telefooncentrale", "en": "from the phone exchange"},
    "desk.source.sms": {"nl": "via sms", "en": "by SMS"},
    "desk.destination": {"nl": "Naar", "en": "Going to"},
    "login.title": {"nl": "Inloggen", "en": "Sign in"},
    "login.token": {"nl": "Toegangscode (token)", "en": "Access token"},
    "login.help": {
        "nl": "Je krijgt je token van de coördinator. Het blijft alleen op dit apparaat.",
        "en": "Your coordinator gives you a token. It stays on this device only.",
    },
    "login.submit": {"nl": "Inloggen", "en": "Sign in"},
    "login.bad": {"nl": "Dit token is onbekend.", "en": "This token is not known."},
    "login.no_view": {
        "nl": "Dit token is voor het registreren van sleutelhangers; daar is geen scherm voor.",
        "en": "This token is for registering key rings; it has no screen.",
    },
    "nav.logout": {"nl": "Uitloggen", "en": "Sign out"},
    "nav.responder": {"nl": "Hulpverlener", "en": "Responder"},
    "nav.operator": {"nl": "Meldkamer", "en": "Operator"},
    "conn.live": {"nl": "Live verbonden", "en": "Live"},
    "conn.lost": {"nl": "Verbinding weg, opnieuw verbinden...", "en": "Connection lost, reconnecting..."},
    "duty.on": {"nl": "In dienst", "en": "On duty"},
    "duty.off": {"nl": "Uit dienst", "en": "Off duty"},
    "duty.go_on": {"nl": "Ga in dienst", "en": "Go on duty"},
    "duty.go_off": {"nl": "Ga uit dienst", "en": "Go off duty"},
    "duty.sharing": {
        "nl": "Je locatie wordt gedeeld zolang je in dienst bent.",
        "en": "Your location is shared while you are on duty.",
    },
    "duty.not_sharing": {"nl": "Je locatie wordt niet gedeeld.", "en": "Your location is not shared."},
    "duty.no_position": {
        "nl": "Geen locatie beschikbaar: alarmen komen zonder afstand.",
        "en": "No location available: alarms come without a distance.",
    },
    "push.enable": {"nl": "Meldingen aanzetten", "en": "Turn on notifications"},
    "push.on": {"nl": "Meldingen staan aan", "en": "Notifications are on"},
    "push.unavailable": {
        "nl": "Meldingen zijn op deze server niet ingesteld.",
        "en": "Notifications are not set up on this server.",
    },
    "push.denied": {"nl": "De browser weigert meldingen.", "en": "The browser refuses notifications."},
    "push.unsupported": {
        "nl": "Deze browser kan geen meldingen ontvangen.",
        "en": "This browser cannot get notifications.",
    },
    "kind.sos": {"nl": "SOS: noodoproep", "en": "SOS: emergency alarm"},
    "kind.escort": {"nl": "Begeleiding: loop mee naar huis", "en": "Escort: walk me home"},
    "kind.duress": {
        "nl": "DWANG: gedwongen annulering, neem dit serieus",
        "en": "DURESS: forced cancel, treat as real",
    },
    "kind.short.sos": {"nl": "SOS", "en": "SOS"},
    "kind.short.escort": {"nl": "Begeleiding", "en": "Escort"},
    "kind.short.duress": {"nl": "Dwang", "en": "Duress"},
    "kind.worried": {"nl": "Zorgmelding: ga even kijken", "en": "Welfare check: go and see"},
    "kind.short.worried": {"nl": "Zorg", "en": "Welfare"},
    "alarm.new": {"nl": "Nieuw alarm", "en": "New alarm"},
    "alarm.distance": {"nl": "Afstand", "en": "Distance"},
    "alarm.unknown": {"nl": "onbekend", "en": "unknown"},
    "alarm.pressed": {"nl": "Ingedrukt", "en": "Pressed"},
    "alarm.ago": {"nl": "{t} geleden", "en": "{t} ago"},
    "alarm.location": {"nl": "Locatie", "en": "Location"},
    "alarm.within": {"nl": "binnen {r} m", "en": "within {r} m"},
    "alarm.no_location": {"nl": "locatie nog onbekend", "en": "location not known yet"},
    "alarm.accept": {"nl": "Accepteren", "en": "Accept"},
    "alarm.decline": {"nl": "Weigeren", "en": "Decline"},
    "alarm.others": {"nl": "Ook geaccepteerd door", "en": "Also accepted by"},
    "alarm.nobody": {"nl": "nog niemand", "en": "nobody yet"},
    "alarm.more": {"nl": "Nog {n} alarm(en) wachten", "en": "{n} more alarm(s) waiting"},
    "engaged.title": {"nl": "Je hebt dit alarm geaccepteerd", "en": "You accepted this alarm"},
    "engaged.told": {
        "nl": "De sleutelhanger heeft gehoord: hulp is onderweg.",
        "en": "The key ring has been told: help is on the way.",
    },
    "engaged.on_the_way": {"nl": "Ik ben onderweg", "en": "I am on my way"},
    "engaged.arrived": {"nl": "Ik ben bij de persoon", "en": "I am with them"},
    "engaged.arrived_done": {"nl": "Je bent bij de persoon", "en": "You are with them"},
    "route.show": {"nl": "Looproute tonen", "en": "Show walking route"},
    "route.open": {"nl": "Looproute openen in OpenStreetMap", "en": "Open walking route in OpenStreetMap"},
    "route.note": {"nl": "Opent een kaart buiten deze app.", "en": "Opens a map outside this app."},
    "resolve.title": {"nl": "Afhandelen", "en": "Resolve"},
    "resolve.referral": {"nl": "Nazorg (optioneel)", "en": "Aftercare (optional)"},
    "resolve.none": {"nl": "Geen verwijzing", "en": "No referral"},
    "resolve.submit": {"nl": "Afgehandeld", "en": "Mark resolved"},
    "standdown.title": {"nl": "Niet meer nodig", "en": "Stand down"},
    "standdown.body": {
        "nl": "De drager heeft het alarm geannuleerd. Je hoeft niet meer te gaan.",
        "en": "The wearer cancelled the alarm. You no longer need to go.",
    },
    "standdown.ok": {"nl": "Begrepen", "en": "Understood"},
    "idle.on": {"nl": "Geen alarmen. Je bent in dienst.", "en": "No alarms. You are on duty."},
    "idle.off": {"nl": "Je bent uit dienst: je krijgt geen alarmen.", "en": "You are off duty: you get no alarms."},
    "state.open": {"nl": "nieuw", "en": "new"},
    "state.offered": {"nl": "aangeboden", "en": "offered"},
    "state.accepted": {"nl": "geaccepteerd", "en": "accepted"},
    "state.on_the_way": {"nl": "onderweg", "en": "on the way"},
    "state.resolved": {"nl": "afgehandeld", "en": "resolved"},
    "state.cancelled": {"nl": "geannuleerd", "en": "cancelled"},
    "state.escalated": {"nl": "opgeschaald", "en": "escalated"},
    "op.board": {"nl": "Incidenten", "en": "Incidents"},
    "op.map": {"nl": "Kaart", "en": "Map"},
    "op.notices": {"nl": "Toezicht", "en": "Supervision"},
    "op.registries": {"nl": "Registers", "en": "Registries"},
    "op.health": {"nl": "Gezondheid", "en": "Health"},
    "op.escalate": {"nl": "Opschalen", "en": "Escalate"},
    "op.assign": {"nl": "Toewijzen aan", "en": "Assign to"},
    "op.assign_submit": {"nl": "Toewijzen", "en": "Assign"},
    "op.resolve": {"nl": "Sluiten", "en": "Close"},
    "op.handover": {"nl": "Overdragen aan 112", "en": "Hand over to 112"},
    "op.handed": {"nl": "Aan 112 overgedragen", "en": "Handed over to 112"},
    "op.new_request": {"nl": "Nieuwe melding", "en": "New request"},
    "intake.title": {"nl": "Nieuwe melding (telefoon)", "en": "New request (phone call)"},
    "intake.name": {"nl": "Naam beller (optioneel)", "en": "Caller's name (optional)"},
    "intake.callback": {"nl": "Terugbelnummer", "en": "Callback number"},
    "intake.kind": {"nl": "Wat is er nodig?", "en": "What is needed?"},
    "intake.kind.escort": {"nl": "Begeleiding naar huis", "en": "Escort home"},
    "intake.kind.worried": {"nl": "Zorgmelding (iemand maakt zich zorgen)", "en": "Worried (a welfare check)"},
    "intake.kind.emergency": {"nl": "Nood", "en": "Emergency"},
    "intake.where": {"nl": "Waar", "en": "Where"},
    "intake.where_hint": {
        "nl": "Klik op de kaart waar de beller is, of typ een adres, of beide. Een adres wordt niet op de kaart "
        "gezocht: zonder klik heeft de melding geen positie.",
        "en": "Click on the map where the caller is, or type an address, or both. An address is not looked up on "
        "the map: without a click the request has no position.",
    },
    "intake.point": {"nl": "Punt op de kaart: {lat}, {lon}", "en": "Point on the map: {lat}, {lon}"},
    "intake.no_point": {"nl": "Nog geen punt op de kaart.", "en": "No point on the map yet."},
    "intake.clear_point": {"nl": "Punt wissen", "en": "Clear point"},
    "intake.nearest": {"nl": "Dichtstbijzijnde patrouille: {list}", "en": "Nearest patrols: {list}"},
    "intake.no_patrol": {
        "nl": "Geen patrouille in dienst met een bekende positie.",
        "en": "No patrol on duty with a known position.",
    },
    "intake.address": {"nl": "Adres", "en": "Address"},
    "intake.notes": {"nl": "Notities", "en": "Notes"},
    "intake.submit": {"nl": "Melding aanmaken", "en": "Create request"},
    "intake.cancel": {"nl": "Annuleren", "en": "Cancel"},
    "intake.created": {"nl": "Melding #{id} aangemaakt.", "en": "Request #{id} created."},
    "intake.unplaced": {
        "nl": "geen positie: alleen het adres, nog op de kaart te zetten",
        "en": "no position: address only, still to be placed on the map",
    },
    "board.phone": {"nl": "Telefoon", "en": "Phone call"},
    "handover.title": {"nl": "Overdracht aan 112", "en": "Hand-over to 112"},
    "handover.read": {
        "nl": "Bel 112 en lees dit voor. Beide talen staan hieronder.",
        "en": "Call 112 and read this out. Both languages are below.",
    },
    "handover.recorded": {"nl": "Vastgelegd om {time} door {who}.", "en": "Recorded at {time} by {who}."},
    "handover.centre_queued": {
        "nl": "De alarmcentrale krijgt dezelfde tekst.",
        "en": "The monitoring centre is sent the same text.",
    },
    "handover.centre_none": {
        "nl": "Geen alarmcentrale ingesteld: alleen vastgelegd.",
        "en": "No monitoring centre is set up: recorded only.",
    },
    "handover.copy": {"nl": "Kopiëren", "en": "Copy"},
    "handover.copied": {"nl": "Gekopieerd", "en": "Copied"},
    "handover.close": {"nl": "Sluiten", "en": "Close"},
    "col.state": {"nl": "Status", "en": "State"},
    "col.kind": {"nl": "Soort", "en": "Kind"},
    "col.opened": {"nl": "Geopend", "en": "Opened"},
    "col.where": {"nl": "Waar", "en": "Where"},
    "col.responders": {"nl": "Hulpverleners", "en": "Responders"},
    "col.actions": {"nl": "Acties", "en": "Actions"},
    "board.empty": {"nl": "Geen incidenten.", "en": "No incidents."},
    "board.timeline": {"nl": "Tijdlijn", "en": "Timeline"},
    "board.device": {"nl": "Sleutelhanger", "en": "Key ring"},
    "board.battery": {"nl": "Batterij", "en": "Battery"},
    "board.offered": {"nl": "Aangeboden aan", "en": "Offered to"},
    "board.accepted": {"nl": "Geaccepteerd door", "en": "Accepted by"},
    "board.declined": {"nl": "Geweigerd door", "en": "Declined by"},
    "board.none": {"nl": "niemand", "en": "nobody"},
    "board.referral": {"nl": "Nazorg", "en": "Aftercare"},
    # Aftercare: the referral chosen at resolve, with how to reach it, for the responder and on a printable page.
    "aftercare.title": {"nl": "Nazorg: hier kun je terecht", "en": "Aftercare: where to turn"},
    "aftercare.intro": {
        "nl": "Wat er ook gebeurd is, je hoeft het niet alleen te dragen. Deze organisaties helpen, nu of later.",
        "en": "Whatever happened, you do not have to carry it alone. These organisations help, now or later.",
    },
    "aftercare.chosen": {"nl": "Voor jou uitgekozen", "en": "Chosen for you"},
    "aftercare.others": {"nl": "Andere hulp", "en": "Other help"},
    "aftercare.group.victims": {"nl": "Hulp voor slachtoffers", "en": "Support for victims"},
    "aftercare.group.students": {"nl": "Voor studenten", "en": "For students"},
    "aftercare.group.associations": {"nl": "Voor verenigingen", "en": "For associations"},
    "aftercare.phone": {"nl": "Telefoon", "en": "Phone"},
    "aftercare.email": {"nl": "E-mail", "en": "Email"},
    "aftercare.web": {"nl": "Website", "en": "Website"},
    "aftercare.reach": {"nl": "Contact", "en": "How to reach"},
    "aftercare.print": {"nl": "Afdrukken", "en": "Print"},
    "aftercare.print_page": {"nl": "Afdrukbare pagina", "en": "Printable page"},
    "aftercare.all_page": {"nl": "Alle nazorg (afdrukbaar)", "en": "All aftercare (printable)"},
    "aftercare.private": {
        "nl": "Op deze pagina staan geen persoonsgegevens.",
        "en": "This page holds no personal data.",
    },
    "aftercare.unknown": {"nl": "Deze verwijzing bestaat niet", "en": "No such referral"},
    "aftercare.unknown_body": {
        "nl": "Er is geen nazorg met de naam {id}. Hieronder staat alle hulp.",
        "en": "There is no aftercare called {id}. All help is listed below.",
    },
    "aftercare.for_person": {"nl": "Nazorg voor de persoon", "en": "Aftercare for the person"},
    "aftercare.show": {
        "nl": "Laat dit zien, of geef de afdrukbare pagina mee.",
        "en": "Show this to the person, or give them the printable page.",
    },
    "aftercare.done": {"nl": "Klaar", "en": "Done"},
    "event.opened": {"nl": "geopend", "en": "opened"},
    "event.located": {"nl": "gelokaliseerd", "en": "located"},
    "event.offered": {"nl": "aangeboden", "en": "offered"},
    "event.accepted": {"nl": "geaccepteerd", "en": "accepted"},
    "event.declined": {"nl": "geweigerd", "en": "declined"},
    "event.on_the_way": {"nl": "onderweg", "en": "on the way"},
    "event.resolved": {"nl": "afgehandeld", "en": "resolved"},
    "event.cancelled": {"nl": "geannuleerd", "en": "cancelled"},
    "event.escalated": {"nl": "opgeschaald", "en": "escalated"},
    "event.broadcast": {"nl": "aan iedereen in de buurt aangeboden", "en": "offered to everyone nearby"},
    "event.pressed_again": {"nl": "opnieuw ingedrukt", "en": "pressed again"},
    "event.duress": {"nl": "gedwongen annulering", "en": "forced cancel"},
    "event.cancel_after_window": {"nl": "late annulering: blijft open", "en": "late cancel: stays open"},
    "event.cancel_after_duress": {"nl": "annulering na dwang: blijft open", "en": "cancel after duress: stays open"},
    "event.ack_queued": {"nl": "'hulp is onderweg' verstuurd", "en": "'help on the way' sent"},
    "event.ack_queued_unavailable": {
        "nl": "sleutelhanger meldt: niemand kan komen, bel 112",
        "en": "key ring told: nobody can come, call 112",
    },
    "event.ack_queued_closed": {"nl": "sleutelhanger meldt: afgesloten", "en": "key ring told: closed"},
    "event.unavailable": {"nl": "niemand beschikbaar", "en": "nobody available"},
    "event.upgraded": {"nl": "opnieuw ingedrukt: nu een noodoproep", "en": "pressed again: now an SOS"},
    "event.assigned": {"nl": "door de meldkamer toegewezen", "en": "assigned by the operator"},
    "event.handed_to_112": {"nl": "overgedragen aan 112", "en": "handed over to 112"},
    "event.arrived": {"nl": "is bij de persoon", "en": "is with the person"},
    "event.caller": {"nl": "de persoon zelf", "en": "the person themselves"},
    "event.other": {"nl": "gebeurtenis: {kind}", "en": "event: {kind}"},
    "notice.silent_device": {"nl": "Sleutelhanger {subject} is stil", "en": "Key ring {subject} is silent"},
    "notice.gateway_offline": {"nl": "Gateway {subject} is offline", "en": "Gateway {subject} is offline"},
    "notice.low_battery": {
        "nl": "Batterij bijna leeg: sleutelhanger {subject}",
        "en": "Low battery: key ring {subject}",
    },
    "notice.invalid_body": {"nl": "Ongeldig bericht van {subject}", "en": "Invalid message from {subject}"},
    "notice.recovery_overflow": {"nl": "Herstelwachtrij vol", "en": "Recovery queue full"},
    "notice.duress": {
        "nl": "DWANG: melding {subject} gedwongen geannuleerd, behandel als echt",
        "en": "DURESS: alarm {subject} cancelled under force, treat as real",
    },
    "notice.unavailable": {
        "nl": "Niemand beschikbaar voor melding {subject}: neem contact op",
        "en": "Nobody available for alarm {subject}: follow up",
    },
    "notice.downlink_refused": {
        "nl": "Broker weigerde antwoord naar gateway {subject}: sleutelhanger kreeg het niet",
        "en": "Broker refused an answer to gateway {subject}: the key ring did not get it",
    },
    "notice.dead_letter": {
        "nl": "Bericht van {subject} apart gezet: niet te verwerken",
        "en": "Message from {subject} set aside: it cannot be handled",
    },
    "notice.handed_to_112": {
        "nl": "Melding {subject} overgedragen aan 112",
        "en": "Alarm {subject} handed over to 112",
    },
    "notice.other": {"nl": "Melding {kind}: {subject}", "en": "Notice {kind}: {subject}"},
    "notices.empty": {"nl": "Geen meldingen.", "en": "No notices."},
    "reg.devices": {"nl": "Sleutelhangers", "en": "Key rings"},
    "reg.gateways": {"nl": "Gateways", "en": "Gateways"},
    "reg.responders": {"nl": "Hulpverleners", "en": "Responders"},
    "reg.id": {"nl": "Id", "en": "Id"},
    "reg.name": {"nl": "Naam", "en": "Name"},
    "reg.last_seen": {"nl": "Laatst gezien", "en": "Last seen"},
    "reg.never": {"nl": "nooit", "en": "never"},
    "reg.status": {"nl": "Status", "en": "Status"},
    "reg.online": {"nl": "online", "en": "online"},
    "reg.offline": {"nl": "offline", "en": "offline"},
    "reg.position": {"nl": "Positie", "en": "Position"},
    "reg.skills": {"nl": "Vaardigheden", "en": "Skills"},
    "reg.heartbeat": {"nl": "Hartslag (min)", "en": "Heartbeat (min)"},
    "reg.empty": {"nl": "Leeg.", "en": "Empty."},
    "reg.card": {"nl": "Kaart voor de drager", "en": "Wearer's card"},
    "reg.print_card": {"nl": "Kaart afdrukken (PDF)", "en": "Print card (PDF)"},
    "reg.actions": {"nl": "Beheer", "en": "Manage"},
    "reg.edit": {"nl": "Bewerken", "en": "Edit"},
    "reg.edit_who": {"nl": "Bewerken: {name}", "en": "Edit: {name}"},
    "reg.remove": {"nl": "Verwijderen", "en": "Remove"},
    "reg.remove_who": {"nl": "Verwijderen: {name}", "en": "Remove: {name}"},
    "reg.save": {"nl": "Opslaan", "en": "Save"},
    "reg.cancel": {"nl": "Annuleren", "en": "Cancel"},
    "reg.label": {"nl": "Omschrijving", "en": "Label"},
    "reg.language": {"nl": "Taal", "en": "Language"},
    "reg.shift": {"nl": "Dienst (uu:mm-uu:mm)", "en": "Shift (hh:mm-hh:mm)"},
    "reg.lat": {"nl": "Breedtegraad", "en": "Latitude"},
    "reg.lon": {"nl": "Lengtegraad", "en": "Longitude"},
    "reg.saved": {"nl": "Opgeslagen: {name}", "en": "Saved: {name}"},
    "reg.removed": {"nl": "Verwijderd: {name}", "en": "Removed: {name}"},
    "reg.confirm.responder": {
        "nl": "Hulpverlener {name} verwijderen? Open meldingen gaan naar een ander; oude meldingen houden de naam.",
        "en": "Remove responder {name}? Open alarms go to someone else; past ones keep the name.",
    },
    "reg.confirm.gateway": {
        "nl": "Gateway {name} verwijderen? Meldt hij zich weer, dan wordt dat geweigerd tot hij opnieuw is toegevoegd.",
        "en": "Remove gateway {name}? If it reports again it is refused until it is added again.",
    },
    "reg.confirm.device": {
        "nl": "Sleutelhanger {name} verwijderen? Zijn sleutel wordt gewist en zijn signalen worden geweigerd; "
        "zijn meldingen blijven bewaard.",
        "en": "Remove key ring {name}? Its key is wiped and its frames are refused; its alarms are kept.",
    },
    "health.throughput": {"nl": "Doorvoer", "en": "Throughput"},
    "health.per_s": {"nl": "{n} berichten/s", "en": "{n} msg/s"},
    "health.queue": {"nl": "Wachtrij", "en": "Queue depth"},
    "health.p99": {"nl": "p99 verwerking", "en": "p99 latency"},
    "health.open": {"nl": "Open incidenten", "en": "Open incidents"},
    "health.na": {"nl": "n.v.t.", "en": "n/a"},
    "map.label": {"nl": "Kaart van Leiden", "en": "Map of Leiden"},
    "map.gateway_online": {"nl": "Gateway {id}: online", "en": "Gateway {id}: online"},
    "map.gateway_offline": {"nl": "Gateway {id}: OFFLINE", "en": "Gateway {id}: OFFLINE"},
    "map.incident": {"nl": "Incident {id}", "en": "Incident {id}"},
    "map.responder": {"nl": "Hulpverlener {name}", "en": "Responder {name}"},
    "map.you": {"nl": "Jij", "en": "You"},
    "map.alarm": {"nl": "Alarm", "en": "Alarm"},
    "map.legend": {"nl": "Legenda", "en": "Legend"},
    "map.legend_gw_on": {"nl": "gateway online", "en": "gateway online"},
    "map.legend_gw_off": {"nl": "gateway offline", "en": "gateway offline"},
    "map.legend_waiting": {"nl": "alarm wacht", "en": "alarm waiting"},
    "map.legend_accepted": {"nl": "hulp onderweg", "en": "help on the way"},
    "map.legend_responder": {"nl": "hulpverlener in dienst", "en": "responder on duty"},
    "map.offline_note": {
        "nl": "Kaart zonder achtergrond: de omtrek van de binnenstad.",
        "en": "Map without background: the outline of the city centre.",
    },
    "unit.min_s": {"nl": "{m} min {s} s", "en": "{m} min {s} s"},
    "unit.s": {"nl": "{s} s", "en": "{s} s"},
    "unit.h_min": {"nl": "{h} u {m} min", "en": "{h} h {m} min"},
    "unit.m": {"nl": "{n} m", "en": "{n} m"},
    "unit.km": {"nl": "{n} km", "en": "{n} km"},
    # Accessibility and the faults found by hand in Chromium: headings, skills in words, the server's refusals in the
    # page's language (the server's own words kept as secondary text), confirmations and the map's legend.
    "a11y.skill.patrol": {"nl": "nachtpatrouille", "en": "night patrol"},
    "a11y.skill.first_aid": {"nl": "EHBO", "en": "first aid"},
    "a11y.skill.security": {"nl": "beveiliging", "en": "security"},
    "a11y.legend_escalated": {"nl": "alarm opgeschaald", "en": "alarm escalated"},
    "a11y.server_said": {"nl": "Melding van de server", "en": "The server said"},
    "a11y.error.network": {
        "nl": "Geen verbinding met de server. Probeer het opnieuw.",
        "en": "No connection to the server. Try again.",
    },
    "a11y.error.input": {
        "nl": "De server weigerde wat er werd ingevuld.",
        "en": "The server refused what was entered.",
    },
    "a11y.error.forbidden": {"nl": "Dat mag je met dit token niet doen.", "en": "This token may not do that."},
    "a11y.error.gone": {"nl": "Deze melding bestaat niet (meer).", "en": "This request does not exist (any more)."},
    "a11y.error.conflict": {
        "nl": "Dat kan nu niet meer: de melding is intussen veranderd. Het scherm is bijgewerkt.",
        "en": "That is no longer possible: the request changed meanwhile. The screen is updated.",
    },
    "a11y.error.busy": {
        "nl": "Te veel verzoeken. Wacht even en probeer opnieuw.",
        "en": "Too many requests. Wait a moment and try again.",
    },
    "a11y.error.server": {
        "nl": "De server heeft een storing. Probeer het opnieuw; bij nood: bel 112.",
        "en": "The server has a fault. Try again; in an emergency, call 112.",
    },
    "a11y.error.other": {"nl": "Dat lukte niet.", "en": "That did not work."},
    "a11y.resolved": {"nl": "Melding #{id} is afgehandeld.", "en": "Request #{id} is resolved."},
    "a11y.push_timeout": {
        "nl": "Meldingen aanzetten duurde te lang en is gestopt. Probeer het opnieuw of herlaad de pagina.",
        "en": "Turning on notifications took too long and was stopped. Try again or reload the page.",
    },
    "a11y.decimal": {"nl": ",", "en": "."},
    "a11y.thousands": {"nl": ".", "en": ","},
    # Every incident however old: close one from the board, search them, export a date range (incident_log.js).
    "incidents.close": {"nl": "Sluiten", "en": "Close"},
    "incidents.close_submit": {"nl": "Melding sluiten", "en": "Close the request"},
    "incidents.title": {"nl": "Alle meldingen", "en": "All requests"},
    "incidents.search": {"nl": "Zoeken", "en": "Search"},
    "incidents.search_hint": {
        "nl": "nummer, naam, telefoon, adres, notities of bestemming",
        "en": "number, name, phone, address, notes or destination",
    },
    "incidents.search_submit": {"nl": "Zoek", "en": "Search"},
    "incidents.found": {"nl": "{n} gevonden", "en": "{n} found"},
    "incidents.found_more": {"nl": "{n} gevonden, er zijn er meer", "en": "{n} found, there are more"},
    "incidents.more": {"nl": "Meer", "en": "More"},
    "incidents.export": {"nl": "Exporteren", "en": "Export"},
    "incidents.from": {"nl": "Van", "en": "From"},
    "incidents.to": {"nl": "Tot en met", "en": "To"},
    "incidents.format": {"nl": "Formaat", "en": "Format"},
    "incidents.export_note": {
        "nl": "Met het logboek. Waar iemand was, staat er niet meer in als de bewaartermijn voorbij is.",
        "en": "With the log. Where someone was is left out once the retention period has passed.",
    },
    "incidents.exported": {"nl": "{file} is gedownload.", "en": "{file} is downloaded."},
    # Patrol zones (partials/zones_panel.html, static/zones.js).
    "zones.title": {"nl": "Wijken", "en": "Patrol zones"},
    "zones.hint": {
        "nl": "Een melding in een wijk gaat eerst naar wie aan die wijk gekoppeld is, ook als een ander dichterbij is.",
        "en": "An alarm in a zone goes first to those bound to it, even when someone else is nearer.",
    },
    "zones.none": {"nl": "Nog geen wijken.", "en": "No zones yet."},
    "zones.draw": {"nl": "Wijk tekenen", "en": "Draw a zone"},
    "zones.points": {
        "nl": "Klik op de kaart bij elke hoek van de wijk: {n} punten, minstens 3.",
        "en": "Click the map at each corner of the zone: {n} points, at least 3.",
    },
    "zones.points_ready": {
        "nl": "{n} punten. Klik verder op de kaart, of kies Klaar.",
        "en": "{n} points. Keep clicking the map, or choose Finish.",
    },
    "zones.centre": {"nl": "Midden van de kaart als hoek", "en": "Add the map's centre as a corner"},
    "zones.centre_hint": {
        "nl": "Zonder muis: zet de focus op de kaart, schuif met de pijltjestoetsen en voeg het midden toe.",
        "en": "Without a mouse: focus the map, move it with the arrow keys and add its centre.",
    },
    "zones.finish": {"nl": "Klaar", "en": "Finish"},
    "zones.undo": {"nl": "Laatste punt weg", "en": "Undo last point"},
    "zones.cancel": {"nl": "Annuleren", "en": "Cancel"},
    "zones.new": {"nl": "Nieuwe wijk", "en": "New zone"},
    "zones.editing": {"nl": "Wijk {name}", "en": "Zone {name}"},
    "zones.name": {"nl": "Naam van de wijk", "en": "Name of the zone"},
    "zones.name_needed": {"nl": "geef de wijk een naam", "en": "give the zone a name"},
    "zones.responders": {"nl": "Hulpverleners in deze wijk", "en": "Responders bound to this zone"},
    "zones.teams": {"nl": "Teams in deze wijk", "en": "Teams bound to this zone"},
    "zones.team": {"nl": "team {team}", "en": "team {team}"},
    "zones.no_responders": {"nl": "Nog geen hulpverleners.", "en": "No responders yet."},
    "zones.no_teams": {"nl": "Geen hulpverlener heeft een team.", "en": "No responder has a team."},
    "zones.save": {"nl": "Opslaan", "en": "Save"},
    "zones.saved": {"nl": "Wijk {name} is opgeslagen.", "en": "Zone {name} is saved."},
    "zones.removed": {"nl": "Wijk {name} is verwijderd.", "en": "Zone {name} is removed."},
    "zones.edit": {"nl": "Koppeling wijzigen", "en": "Change binding"},
    "zones.remove": {"nl": "Verwijderen", "en": "Remove"},
    "zones.bound": {"nl": "gekoppeld: {list}", "en": "bound: {list}"},
    "zones.nobody": {"nl": "niemand gekoppeld", "en": "nobody bound"},
}


STRINGS.update(strings_accounts.STRINGS)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if valid, else the browser's first supported preference, else Dutch."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else DEFAULT


def text(lang: str, key: str, **values: object) -> str:
    """One string; a missing key is a bug and raises, so the tests catch it."""
    s = STRINGS[key][lang]
    return s.format(**values) if values else s


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return text(lang, key, **values)

    return t


def both(lang: str, *keys: str) -> list[tuple[str, str]]:
    """Each language's text of ``keys`` joined, the page's own language first: for what everyone must be able to
    read whichever language the page is in."""
    order = sorted(LANGUAGES, key=lambda code: code != lang)
    return [(code, " ".join(text(code, key) for key in keys)) for code in order]


def number(lang: str, value: float, digits: int = 0) -> str:
    """A number as the page's language writes it: 3,8 and 1.234 in Dutch, 3.8 and 1,234 in English."""
    marks = {",": text(lang, "a11y.thousands"), ".": text(lang, "a11y.decimal")}
    return "".join(marks.get(c, c) for c in f"{value:,.{digits}f}")


def skill(lang: str, skill_id: str) -> str:
    """A responder's skill in words; one added to the API before it has words here shows as its id."""
    key = f"a11y.skill.{skill_id}"
    return text(lang, key) if key in STRINGS else skill_id.replace("_", " ")


def catalogue(lang: str) -> dict[str, str]:
    """All strings in one language, for the JS modules (they format {placeholders} themselves)."""
    return {key: value[lang] for key, value in STRINGS.items()}
