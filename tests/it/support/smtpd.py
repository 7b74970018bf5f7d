"""A real SMTP server for pareto's tests (aiosmtpd), on 127.0.0.1 only.

Each accepted message is written to OUT as NNN.eml with its envelope in NNN.json.
Options make it require AUTH, speak STARTTLS or implicit TLS with a throwaway CA, refuse
recipients or data, refuse a message with a bare CR or LF or a line over 998 octets
(--strict-lines, as Postfix does with smtpd_forbid_bare_newline), or (--lax-line-ends) read a bare
LF as a line end, as the relays that SMTP smuggling exploits did. It prints "READY" on stdout once it listens and runs until killed.
"""
import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import re
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class LaxSMTP(SMTP):
    """An SMTP server that takes a bare LF for a line end (CRLF), as relays did before the SMTP
    smuggling fixes (Postfix without smtpd_forbid_bare_newline, and others): a message whose
    body holds `<LF>.<CR><LF>` ends there, and what follows is read as new commands."""

    _last_cr = False

    def data_received(self, data):
        fixed = re.sub(rb"(?<!\r)\n", b"\r\n", data)
        if data[:1] == b"\n" and self._last_cr:
            fixed = fixed[1:]
        self._last_cr = data[-1:] == b"\r"
        super().data_received(fixed)


class LaxController(Controller):
    def factory(self):
        return LaxSMTP(self.handler, **self.SMTP_kwargs)


def make_certs(folder):
    """A CA and a server certificate for 127.0.0.1/localhost signed by it; returns paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pareto test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = {}
    for name, data in [
        ("ca.pem", ca.public_bytes(pem)),
        ("cert.pem", cert.public_bytes(pem)),
        (
            "key.pem",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ),
    ]:
        paths[name] = os.path.join(folder, name)
        with open(paths[name], "wb") as f:
            f.write(data)
    return paths


def parse_rules(items):
    """`STEP=VALUE` or `STEP=VALUE*COUNT` (the first COUNT times only) into {step: [value, count]}."""
    rules = {}
    for item in items:
        step, _, rest = item.partition("=")
        value, star, count = rest.rpartition("*") if "*" in rest else (rest, "", "")
        rules[step] = [value, int(count) if star else None]
    return rules


class Handler:
    def __init__(self, out, reject_rcpt, data_reply, faults, stalls, strict_lines=False):
        self.out = out
        self.strict_lines = strict_lines
        self.reject_rcpt = set(reject_rcpt)
        self.data_reply = data_reply
        # A fault answers STEP (mail, rcpt, data) with a reply instead of accepting; a stall waits
        # SECONDS before answering STEP (mail, rcpt, data), or after storing the message
        # (after-data): the client may give up with the message delivered.
        self.faults = parse_rules(faults)
        self.stalls = parse_rules(stalls)
        self.count = 0
        self.lock = threading.Lock()

    def take(self, rules, step):
        with self.lock:
            rule = rules.get(step)
            if rule is None or rule[1] == 0:
                return None
            if rule[1] is not None:
                rule[1] -= 1
            return rule[0]

    async def misbehave(self, step):
        stall = self.take(self.stalls, step)
        if stall:
            await asyncio.sleep(float(stall))
        return self.take(self.faults, step)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        fault = await self.misbehave("mail")
        if fault:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # `rcpt:ADDRESS=…` misbehaves for that recipient only.
        fault = await self.misbehave("rcpt:" + address) or await self.misbehave("rcpt")
        if fault:
            return fault
        if address in self.reject_rcpt:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        fault = await self.misbehave("data")
        if fault:
            return fault
        if self.strict_lines:
            body = envelope.original_content
            if re.search(rb"(?<!\r)\n|\r(?!\n)", body):
                return "521 5.5.2 Error: bare <LF> or <CR> received"
            if any(len(line) > 998 for line in body.split(b"\r\n")):
                return "500 5.5.2 Line too long (RFC 5322 2.1.1)"
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.out, "%03d" % n)
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "tls": tls,
                "auth": session.authenticated}
        # The envelope first, then the message: a reader that sees NNN.eml finds NNN.json.
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        stall = self.take(self.stalls, "after-data")
        if stall:
            await asyncio.sleep(float(stall))
        return "250 2.0.0 OK queued as %03d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--data-reply")
    p.add_argument("--fault", action="append", default=[], help="STEP=REPLY[*COUNT], STEP one of mail, rcpt, data")
    p.add_argument("--stall", action="append", default=[], help="STEP=SECONDS[*COUNT], STEP one of mail, rcpt, rcpt:ADDRESS, data, after-data")
    p.add_argument("--strict-lines", action="store_true", help="refuse bare CR or LF and lines over 998 octets")
    p.add_argument("--lax-line-ends", action="store_true", help="read a bare LF as CRLF (a relay open to SMTP smuggling)")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    kwargs = {}
    if a.tls != "none":
        certs = make_certs(a.out)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(certs["cert.pem"], certs["key.pem"])
        if a.tls == "starttls":
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = True
        else:
            kwargs["ssl_context"] = ctx
    if a.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == a.user \
                and auth_data.password.decode() == a.password
            return AuthResult(success=ok, handled=False)
        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = a.tls != "none"

    handler = Handler(a.out, a.reject_rcpt, a.data_reply, a.fault, a.stall, a.strict_lines)
    controller_class = LaxController if a.lax_line_ends else Controller
    controller = controller_class(handler, hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print("READY", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
