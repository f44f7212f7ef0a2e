"""The emails of the member sign-in flows: one template per kind, in English and French (the
request's `locale` picks: `fr...` is French, anything else English). Each names the
organization (discovery emails, which have none yet, name the application's project)."""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "fr")


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    body: str


_TEMPLATES: dict[tuple[str, str], tuple[str, str]] = {
    ("login", "en"): (
        "Sign in to {org}",
        "Hello,\n\nSomeone (hopefully you) asked to sign in to {org} as {email}.\n\n"
        "Open this link within {minutes} minutes to sign in (it works once):\n\n{link}\n\n"
        "If you did not ask for this, ignore this email.\n",
    ),
    ("login", "fr"): (
        "Connexion à {org}",
        "Bonjour,\n\nQuelqu'un (vous, espérons-le) a demandé à se connecter à {org} en tant que "
        "{email}.\n\nOuvrez ce lien dans les {minutes} minutes pour vous connecter (il ne sert "
        "qu'une fois) :\n\n{link}\n\nSi vous n'avez rien demandé, ignorez ce message.\n",
    ),
    ("signup", "en"): (
        "Join {org}",
        "Hello,\n\nSomeone (hopefully you) asked to join {org} as {email}.\n\n"
        "Open this link within {minutes} minutes to create your account (it works once):\n\n"
        "{link}\n\nIf you did not ask for this, ignore this email.\n",
    ),
    ("signup", "fr"): (
        "Rejoindre {org}",
        "Bonjour,\n\nQuelqu'un (vous, espérons-le) a demandé à rejoindre {org} en tant que "
        "{email}.\n\nOuvrez ce lien dans les {minutes} minutes pour créer votre compte (il ne "
        "sert qu'une fois) :\n\n{link}\n\nSi vous n'avez rien demandé, ignorez ce message.\n",
    ),
    ("invite", "en"): (
        "You are invited to join {org}",
        "Hello,\n\nYou have been invited to join {org} as {email}.\n\n"
        "Open this link within {minutes} minutes to accept the invitation (it works once):\n\n"
        "{link}\n\nIf you were not expecting this, ignore this email.\n",
    ),
    ("invite", "fr"): (
        "Vous êtes invité à rejoindre {org}",
        "Bonjour,\n\nVous êtes invité à rejoindre {org} en tant que {email}.\n\n"
        "Ouvrez ce lien dans les {minutes} minutes pour accepter l'invitation (il ne sert "
        "qu'une fois) :\n\n{link}\n\nSi vous ne vous y attendiez pas, ignorez ce message.\n",
    ),
    ("discovery", "en"): (
        "Sign in to {org}",
        "Hello,\n\nSomeone (hopefully you) asked to sign in to {org} as {email}.\n\n"
        "Open this link within {minutes} minutes to choose your organization (it works "
        "once):\n\n{link}\n\nIf you did not ask for this, ignore this email.\n",
    ),
    ("discovery", "fr"): (
        "Connexion à {org}",
        "Bonjour,\n\nQuelqu'un (vous, espérons-le) a demandé à se connecter à {org} en tant que "
        "{email}.\n\nOuvrez ce lien dans les {minutes} minutes pour choisir votre organisation "
        "(il ne sert qu'une fois) :\n\n{link}\n\nSi vous n'avez rien demandé, ignorez ce "
        "message.\n",
    ),
    ("otp", "en"): (
        "Your {org} sign-in code",
        "Hello,\n\nYour code to sign in to {org} as {email} is:\n\n    {code}\n\n"
        "It works once, for {minutes} minutes. If you did not ask for it, ignore this email.\n",
    ),
    ("otp", "fr"): (
        "Votre code de connexion à {org}",
        "Bonjour,\n\nVotre code pour vous connecter à {org} en tant que {email} est :\n\n"
        "    {code}\n\nIl ne sert qu'une fois, pendant {minutes} minutes. Si vous ne l'avez pas "
        "demandé, ignorez ce message.\n",
    ),
    ("otp_discovery", "en"): (
        "Your sign-in code",
        "Hello,\n\nYour code to sign in as {email} is:\n\n    {code}\n\n"
        "It works once, for {minutes} minutes. If you did not ask for it, ignore this email.\n",
    ),
    ("otp_discovery", "fr"): (
        "Votre code de connexion",
        "Bonjour,\n\nVotre code pour vous connecter en tant que {email} est :\n\n    {code}\n\n"
        "Il ne sert qu'une fois, pendant {minutes} minutes. Si vous ne l'avez pas demandé, "
        "ignorez ce message.\n",
    ),
    ("discovery_reset", "en"): (
        "Reset your password",
        "Hello,\n\nSomeone (hopefully you) asked to reset the password of {email} in every "
        "organization it belongs to.\n\nOpen this link within {minutes} minutes to choose a new "
        "password (it works once):\n\n{link}\n\nIf you did not ask for this, ignore this "
        "email: your password has not changed.\n",
    ),
    ("discovery_reset", "fr"): (
        "Réinitialisez votre mot de passe",
        "Bonjour,\n\nQuelqu'un (vous, espérons-le) a demandé à réinitialiser le mot de passe de "
        "{email} dans toutes ses organisations.\n\nOuvrez ce lien dans les {minutes} minutes "
        "pour choisir un nouveau mot de passe (il ne sert qu'une fois) :\n\n{link}\n\nSi vous "
        "n'avez rien demandé, ignorez ce message : votre mot de passe n'a pas changé.\n",
    ),
    ("reset", "en"): (
        "Reset your {org} password",
        "Hello,\n\nSomeone (hopefully you) asked to reset the password of {email} at {org}.\n\n"
        "Open this link within {minutes} minutes to choose a new password (it works once):\n\n"
        "{link}\n\nIf you did not ask for this, ignore this email: your password has not "
        "changed.\n",
    ),
    ("reset", "fr"): (
        "Réinitialisez votre mot de passe {org}",
        "Bonjour,\n\nQuelqu'un (vous, espérons-le) a demandé à réinitialiser le mot de passe de "
        "{email} chez {org}.\n\nOuvrez ce lien dans les {minutes} minutes pour choisir un "
        "nouveau mot de passe (il ne sert qu'une fois) :\n\n{link}\n\nSi vous n'avez rien "
        "demandé, ignorez ce message : votre mot de passe n'a pas changé.\n",
    ),
}

KINDS = frozenset(kind for kind, _ in _TEMPLATES)


def language(locale: str | None) -> str:
    return "fr" if (locale or "").lower().startswith("fr") else "en"


def render(kind: str, locale: str | None, **values: str | int) -> Email:
    subject, body = _TEMPLATES[(kind, language(locale))]
    return Email(subject.format(**values), body.format(**values))
