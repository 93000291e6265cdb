"""SMTP over TLS against a real aiosmtpd on 127.0.0.1 with a throwaway certificate: STARTTLS on
smtp://, implicit TLS on smtps://, login only over TLS, and an untrusted certificate as a clear
configuration error. The client trusts the test certificate through SSL_CERT_FILE, the standard
OpenSSL variable an operator would use for a relay with a private CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from fundwatch import mail as mailer
from helpers import Handler, free_port, parse


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """(cert.pem, key.pem): self-signed for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fundwatch test relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TlsHandler(Handler):
    """Also records whether each accepted message came over TLS."""

    def __init__(self):
        super().__init__()
        self.tls: list[bool] = []

    async def handle_DATA(self, server, session, envelope):
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"relay", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def serve(certificate, *, implicit: bool, auth: bool = False):
    cert_file, key_file = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    handler, port = TlsHandler(), free_port()
    options = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    if auth:
        # PLAIN only: smtplib falls back from a refused PLAIN to LOGIN with an initial response,
        # which aiosmtpd's LOGIN does not take (real relays do)
        options.update(authenticator=authenticator, auth_required=True, auth_exclude_mechanism=["LOGIN"])
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost", **options)
    controller.start()
    return controller, handler, port


def message(to="anna@example.org"):
    return mailer.build_message(to=to, subject="Vecka 18", text="Stöd till föreningar\n", mail_from="fw <fw@example.org>")


@pytest.mark.parametrize("scheme,implicit", [("smtp", False), ("smtps", True)])
def test_mail_goes_out_over_tls(certificate, monkeypatch, scheme, implicit):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    controller, handler, port = serve(certificate, implicit=implicit)
    try:
        with mailer.SmtpTransport(f"{scheme}://127.0.0.1:{port}") as transport:
            assert transport.send(message()).startswith("250")
            assert transport.send(message("bo@example.org")).startswith("250")
            assert transport.tls
    finally:
        controller.stop()
    assert handler.recipients() == ["anna@example.org", "bo@example.org"] and handler.tls == [True, True]
    assert len(handler.sessions) == 1
    assert "Stöd till föreningar" in parse(handler.messages[0][1]).get_body(("plain",)).get_content()


def test_login_over_starttls(certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    controller, handler, port = serve(certificate, implicit=False, auth=True)
    try:
        with mailer.SmtpTransport(f"smtp://127.0.0.1:{port}", user="relay", password="s3cret") as transport:
            assert transport.send(message()).startswith("250")
        with pytest.raises(mailer.MailConfigError, match="SMTP login to 127.0.0.1 refused: 535"):
            mailer.SmtpTransport(f"smtp://127.0.0.1:{port}", user="relay", password="wrong").send(message("x@example.org"))
    finally:
        controller.stop()
    assert handler.recipients() == ["anna@example.org"]


@pytest.mark.parametrize("scheme,implicit", [("smtp", False), ("smtps", True)])
def test_an_untrusted_certificate_is_a_clear_configuration_error(certificate, monkeypatch, tmp_path, scheme, implicit):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))  # trusts nothing
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    controller, handler, port = serve(certificate, implicit=implicit)
    try:
        with pytest.raises(mailer.MailConfigError, match="TLS certificate of 127.0.0.1.* is not trusted.*SSL_CERT_FILE"):
            mailer.SmtpTransport(f"{scheme}://127.0.0.1:{port}").send(message())
    finally:
        controller.stop()
    assert handler.messages == []
