"""A minimal local SMTP server (RFC 5321 subset: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that
keeps every message it accepts, for tests of the e-mail notifications. Loopback only."""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from email.message import Message
from typing import Any


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 fake-smtp ready")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            verb = raw.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake-smtp")
                self.reply("250 8BITMIME")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                self.server.messages.append(email.message_from_bytes(b"".join(lines), policy=email.policy.default))  # type: ignore[attr-defined]
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class FakeSMTP:
    """``with FakeSMTP() as smtp:`` → ``smtp.url`` (``smtp://127.0.0.1:<port>``), ``smtp.messages``."""

    def __init__(self) -> None:
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.messages = []  # type: ignore[attr-defined]
        self.url = f"smtp://127.0.0.1:{self.server.server_address[1]}"

    @property
    def messages(self) -> list[Message]:
        return self.server.messages  # type: ignore[attr-defined]

    def texts(self) -> list[str]:
        return [m.get_content() for m in self.messages]  # type: ignore[attr-defined]

    def __enter__(self) -> FakeSMTP:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
