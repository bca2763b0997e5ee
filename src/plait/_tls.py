"""TLS for clients, workers and the CLI: what ``tls=`` means, and the context built from files.

``Client.connect(address, tls=...)`` takes ``None`` (TLS if the address is ``https://``, with
the CA files of the environment when they are set), ``True`` (the system's trust store) or an
``ssl.SSLContext`` (a private CA, a client certificate for mutual TLS: anything ``ssl`` can
do). The CLI's ``--tls-ca``/``--tls-cert``/``--tls-key`` and their environment variables
``PLAIT_TLS_CA``/``PLAIT_TLS_CERT``/``PLAIT_TLS_KEY`` build the context with
:func:`client_context`. A file that cannot be used is refused here, in one line naming it,
rather than as a handshake failure later.
"""

from __future__ import annotations

import os
import ssl

from plait import errors

__all__ = ["ENV_CA", "ENV_CERT", "ENV_KEY", "TlsOption", "client_context", "from_environment"]

ENV_CA = "PLAIT_TLS_CA"
ENV_CERT = "PLAIT_TLS_CERT"
ENV_KEY = "PLAIT_TLS_KEY"

TlsOption = bool | ssl.SSLContext | None
"""What ``tls=`` accepts (``False`` means no TLS, as ``None`` does for ``http://``)."""


def client_context(
    ca: str | None = None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """A client context that verifies the server (against ``ca``, else the system's trust
    store) and, with ``cert`` and ``key``, presents a client certificate (mutual TLS)."""
    if (cert is None) != (key is None):
        raise errors.PlaitError(
            f"a client certificate needs both --tls-cert and --tls-key ({ENV_CERT} and {ENV_KEY})"
        )
    ctx = ssl.create_default_context()
    if ca is not None:
        _readable(ca, "--tls-ca")
        try:
            ctx.load_verify_locations(cafile=ca)
        except ssl.SSLError as e:
            raise errors.PlaitError(
                f"--tls-ca {ca}: not a PEM CA certificate ({_reason(e)})"
            ) from None
    if cert is not None and key is not None:
        _readable(cert, "--tls-cert")
        _readable(key, "--tls-key")
        try:
            # A key with a passphrase would make OpenSSL prompt on the terminal: refuse it.
            ctx.load_cert_chain(cert, key, password=lambda: _encrypted(key))
        except ssl.SSLError as e:
            raise errors.PlaitError(
                f"--tls-cert {cert} / --tls-key {key}: cannot use them as "
                f"a certificate and its key ({_reason(e)})"
            ) from None
    return ctx


def from_environment() -> ssl.SSLContext | None:
    """The context ``PLAIT_TLS_CA``/``PLAIT_TLS_CERT``/``PLAIT_TLS_KEY`` describe; None when
    none is set."""
    ca, cert, key = (os.environ.get(n) or None for n in (ENV_CA, ENV_CERT, ENV_KEY))
    if ca is None and cert is None and key is None:
        return None
    return client_context(ca, cert, key)


def _encrypted(path: str) -> bytes:
    raise errors.PlaitError(
        f"--tls-key {path} is encrypted: use an unencrypted key, or build "
        "an ssl.SSLContext yourself and pass it as tls="
    )


def _readable(path: str, option: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise errors.PlaitError(f"{option} {path}: {e.strerror or e}") from None


def _reason(e: ssl.SSLError) -> str:
    """``[SSL] PEM lib (_ssl.c:3900)`` reads better as ``PEM lib``."""
    text = e.reason or e.strerror or str(e)
    return str(text).replace("_", " ").lower() if text else "unreadable"
