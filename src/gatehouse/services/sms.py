"""Outgoing SMS (MFA one-time codes), through a pluggable sender chosen by `sms_sender`:

- `log` (the default): nothing is texted. The server log gets the text, code included, only
  when the operator asked for that (`sms_to_log`, local use); otherwise only that a text was not
  sent, to which number, without its body.
- `webhook`: a JSON POST of `{"to": "+15555550100", "body": "..."}` to `sms_webhook_url`, with
  `X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the exact body under sms_webhook_secret>`,
  so a gateway in front of a real SMS provider can check it came from Gatehouse. Any answer but
  2xx, or no answer within 10 seconds, is a failed delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from typing import Protocol

from gatehouse.config import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Gatehouse-Signature"
TIMEOUT_SECONDS = 10.0


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None:
        """Text `body` to `to` (E.164); OSError when it could not be delivered."""
        ...


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class LogSender:
    def __init__(self, show_texts: bool) -> None:
        self.show_texts = show_texts

    def send(self, to: str, body: str) -> None:
        if self.show_texts:
            log.warning("no SMS sender configured (sms_to_log is on); text to %s:\n%s", to, body)
        else:
            log.warning("a text to %s was not sent: no SMS sender is configured (`sms_sender`)", to)


class WebhookSender:
    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    def send(self, to: str, body: str) -> None:
        payload = json.dumps({"to": to, "body": body}).encode()
        request = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self.secret, payload),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise OSError(f"the SMS webhook answered {error.code}") from None
        except (urllib.error.URLError, TimeoutError) as error:
            raise OSError(f"the SMS webhook could not be reached: {error}") from None


def sender_for(settings: Settings) -> SmsSender:
    if settings.sms_sender == "webhook":
        if not settings.sms_webhook_url:
            raise ValueError("`sms_sender` is `webhook`: set `sms_webhook_url` too")
        return WebhookSender(settings.sms_webhook_url, settings.sms_webhook_secret)
    return LogSender(settings.sms_to_log)
