"""Outgoing email over SMTP. With no SMTP host configured, the message is written to the server
log instead, so a local user can still follow a sign-in link."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from gatehouse.config import Settings

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if not self.settings.smtp_host:
            log.warning(
                "no SMTP server configured; email to %s:\nSubject: %s\n\n%s", to, subject, body
            )
            return
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=10) as smtp:
            if self.settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.settings.smtp_username:
                smtp.login(self.settings.smtp_username, self.settings.smtp_password)
            smtp.send_message(message)
