"""A real SMTP server for services/notifier/tests/channels.rs, built on aiosmtpd.

Listens on a free loopback port, prints that port on its first line of stdout, and writes every
message it accepts to OUT/<n>.json: the envelope, whether the connection was encrypted, who
logged in, the raw message as received, and that message parsed by Python's e-mail package (its
headers, and each MIME part's content type and decoded text), so the test checks what a mail
client would show rather than a transfer encoding.

    smtp_sink.py OUT [--tls starttls|implicit --cert CERT --key KEY] [--user NAME:PASSWORD]
                     [--refuse ADDRESS:REPLY ...]

--tls starttls offers STARTTLS and refuses mail before it (require_starttls); --tls implicit
wraps the socket in TLS from the first byte (smtps). --user makes AUTH mandatory with that one
login. --refuse answers RCPT TO:<ADDRESS> with REPLY ("550 5.1.1 no such user").
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, out, refusals):
        self.out = out
        self.refusals = refusals
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "login": login,
            "content": envelope.original_content.decode("utf-8", "replace"),
            "content_type": message.get_content_type(),
            "headers": [[name, str(value)] for name, value in message.items()],
            "parts": [
                # Lines end in \n, as a client shows them, whatever the transfer encoding kept.
                {"content_type": part.get_content_type(), "text": part.get_content().replace("\r\n", "\n")}
                for part in message.walk()
                if not part.is_multipart()
            ],
        }
        # Written under a temporary name and renamed, so the test never reads half a file.
        path = os.path.join(self.out, f"{self.count}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 accepted"


def authenticator_for(user):
    name, password = user.split(":", 1)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data == (name.encode(), password.encode())
        # handled=False: aiosmtpd answers a failure itself (535).
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


async def serve(args):
    os.makedirs(args.out, exist_ok=True)
    refusals = {}
    for refusal in args.refuse:
        address, reply = refusal.split(":", 1)
        refusals[address.lower()] = reply
    handler = Sink(args.out, refusals)

    tls = None
    if args.tls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)

    def protocol():
        return SMTP(
            handler,
            hostname="localhost",
            tls_context=tls if args.tls == "starttls" else None,
            require_starttls=args.tls == "starttls",
            authenticator=authenticator_for(args.user) if args.user else None,
            auth_required=args.user is not None,
            # With implicit TLS the socket is already encrypted, which aiosmtpd cannot see.
            auth_require_tls=args.tls != "implicit",
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        protocol, host="127.0.0.1", port=0, ssl=tls if args.tls == "implicit" else None
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--refuse", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    # aiosmtpd warns about AUTH without STARTTLS, not knowing implicit TLS encrypts it already.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
