"""Outgoing email over SMTP.

With no SMTP host configured an email is not sent. Its body (sign-in and reset tokens in it) is
written to the server log only when the operator asked for that (`mail_to_log`, which
`scripts/serve` turns on for local use); otherwise the log says that an email was not sent, to
whom and why, without its body.

Messages are built with the standard library (`email.message.EmailMessage`, `email.utils`):
`Date` and `Message-ID` are set, and text that comes from users (an organization's or
workspace's name in a subject) is put on one line before it becomes a header, so a line break
in it can neither break the message nor add a header.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from gatehouse.config import Settings

log = logging.getLogger(__name__)


def one_line(text: str) -> str:
    """`text` with every run of whitespace (line breaks included) made one space."""
    return " ".join(text.split())


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        sender = self.settings.smtp_from
        message["From"] = one_line(sender)
        message["To"] = one_line(to)
        message["Subject"] = one_line(subject)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        # Not email.utils.make_msgid: it draws from the process-wide `random` state, which
        # emails sent from background threads would then disturb for everyone else.
        message["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
        message.set_content(body)
        return message

    def send(self, to: str, subject: str, body: str) -> None:
        message = self.message(to, subject, body)
        if not self.settings.smtp_host:
            if self.settings.mail_to_log:
                log.warning(
                    "no SMTP server configured (mail_to_log is on); email to %s:\n"
                    "Subject: %s\n\n%s",
                    message["To"],
                    message["Subject"],
                    body,
                )
            else:
                log.warning(
                    "no SMTP server configured: an email to %s (%s) was not sent; set smtp_host, "
                    "or mail_to_log for local use",
                    message["To"],
                    message["Subject"],
                )
            return
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=10) as smtp:
            if self.settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.settings.smtp_username:
                smtp.login(self.settings.smtp_username, self.settings.smtp_password)
            smtp.send_message(message)
