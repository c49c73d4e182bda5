"""Who is asking: the organisation named on every page a client sees.

``CLIENTLOOP_ORG_NAME`` (else a neutral name in the page's language), ``CLIENTLOOP_ORG_LOGO_URL``
(an ``https://`` URL or a path on this site, checked at start by ``shared.config.logo_url``) and
``CLIENTLOOP_ORG_CONTACT`` (free text such as an email address or a phone number). Templates
escape all three like any other text. A logo on another site adds that site's origin, and only
that, to the pages' ``img-src``.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from services.survey.web.texts import texts_for
from shared.config import Settings

@dataclass(frozen=True)
class Organisation:
    name: str
    logo_url: str | None = None
    contact: str | None = None


def organisation(settings: Settings, language: str) -> Organisation:
    return Organisation(name=settings.org_name or texts_for(language)["org_default"],
                        logo_url=settings.org_logo_url, contact=settings.org_contact)


def logo_origin(logo_url: str | None) -> str | None:
    """``https://host[:port]`` of a logo on another site; None for a path on this site."""
    if not logo_url or not logo_url.lower().startswith("https://"):
        return None
    parts = urlsplit(logo_url)
    return f"https://{parts.netloc.lower()}"


def content_security_policy(logo_url: str | None) -> str:
    """No script at all; styles and images from this site (and the logo's origin)."""
    images = " ".join(filter(None, ("'self'", logo_origin(logo_url))))
    return (f"default-src 'none'; style-src 'self'; img-src {images}; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
