"""E-mail to units and staff over SMTP (``SMTP_URL`` = smtp://user:pass@host:port or smtps://…)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlparse


def send(smtp_url: str, *, sender: str, to: str, subject: str, body: str, timeout: float = 10.0) -> None:
    """Send one plain-text UTF-8 message; raises ``OSError``/``smtplib.SMTPException`` on failure."""
    url = urlparse(smtp_url)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body, charset="utf-8")
    cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with cls(url.hostname or "127.0.0.1", url.port or (465 if url.scheme == "smtps" else 25),
             timeout=timeout) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(msg)
