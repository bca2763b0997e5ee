"""TLS on the server (``plait server --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]``).

With a client CA the TLS is mutual: a client that presents no certificate, or one that CA did
not sign, is refused in the handshake, before any HTTP is read. That is a transport check, not
authentication of a person or a role: a non-loopback server still needs ``--auth`` (or
``--insecure``), and API keys still decide what each caller may do.

Files are read once at start-up; a file that cannot be used is a :class:`TlsSettingsError`
whose message is the one line ``plait server`` prints. Changing certificates means restarting
the server (several servers behind a load balancer restart one at a time).
"""

from __future__ import annotations

import dataclasses
import ssl

from plait.errors import PlaitError

__all__ = ["TlsFiles", "TlsSettingsError", "server_context"]


class TlsSettingsError(PlaitError):
    """A TLS file the server cannot use; ``str()`` names it and why, in a line."""


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    cert: str
    """The server's certificate chain (PEM), its own certificate first."""
    key: str
    """The certificate's private key (PEM, not encrypted)."""
    client_ca: str | None = None
    """With it, mutual TLS: clients must present a certificate this CA (PEM) signed."""


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The context the server's listening socket wraps connections in (TLS 1.2 or newer)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _readable(files.cert, "--tls-cert")
    _readable(files.key, "--tls-key")
    try:
        # A key with a passphrase would make OpenSSL prompt on the terminal: refuse instead.
        ctx.load_cert_chain(files.cert, files.key, password=lambda: _encrypted(files.key))
    except ssl.SSLError as e:
        raise TlsSettingsError(
            f"--tls-cert {files.cert} / --tls-key {files.key}: not a PEM "
            f"certificate and its unencrypted key ({_reason(e)})"
        ) from None
    if files.client_ca is not None:
        _readable(files.client_ca, "--tls-client-ca")
        try:
            ctx.load_verify_locations(cafile=files.client_ca)
        except ssl.SSLError as e:
            raise TlsSettingsError(
                f"--tls-client-ca {files.client_ca}: not a PEM CA certificate ({_reason(e)})"
            ) from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _encrypted(path: str) -> bytes:
    raise TlsSettingsError(
        f"--tls-key {path} is encrypted: give the server an unencrypted "
        "key (readable by its user only)"
    )


def _readable(path: str, option: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise TlsSettingsError(f"{option} {path}: {e.strerror or e}") from None


def _reason(e: ssl.SSLError) -> str:
    text = e.reason or e.strerror or str(e)
    return str(text).replace("_", " ").lower() if text else "unreadable"
