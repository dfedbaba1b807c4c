"""TLS on the hub's own port: the certificate and key files, read into a server context, and read
again on demand (`hub serve` does it on SIGHUP) without touching a connection.

The listeners keep one context for their whole life (asyncio takes it when it starts to
listen). A reload builds a new context from the files and makes it current; the listeners'
context hands each new handshake to the current one (its SNI callback, which OpenSSL calls for
every handshake, with or without a server name). A reload that fails changes nothing: the
certificate served so far stays. Connections already open keep the session they made.

Every problem with the files is a TlsError: one line naming the file and what is wrong.
"""

import ssl


class TlsError(ValueError):
    """A certificate or key the hub cannot serve with, said in one line."""


class Certificates:
    """The server context the listeners take (`context`), serving the files' current pair."""

    def __init__(self, cert_path: str, key_path: str) -> None:
        self.cert_path, self.key_path = cert_path, key_path
        self._current = load_context(cert_path, key_path)  # raises TlsError
        self.context = self._current
        self.context.sni_callback = self._choose

    def _choose(self, ssl_object: ssl.SSLObject, _name: str | None, used: ssl.SSLContext) -> None:
        current = self._current
        if used is not current:
            ssl_object.context = current

    def reload(self) -> None:
        """Reads the files again and serves their pair from the next handshake on; TlsError
        (and the pair served so far stays) when they cannot be used."""
        fresh = load_context(self.cert_path, self.key_path)
        self._current = fresh


def load_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """A server context for the PEM certificate chain at `cert_path` and its key at `key_path`;
    TlsError saying which file is wrong and how."""
    cert_text = _read(cert_path, "certificate", "--tls-cert, HUB_TLS_CERT")
    key_text = _read(key_path, "key", "--tls-key, HUB_TLS_KEY")
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        raise TlsError(f"the TLS certificate {cert_path} holds no PEM certificate")
    if "PRIVATE KEY-----" not in key_text:
        raise TlsError(f"the TLS key {key_path} holds no PEM private key")
    if "ENCRYPTED" in key_text:
        raise TlsError(f"the TLS key {key_path} is encrypted: give the hub one without passphrase")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # Never a passphrase prompt: an encrypted key the check above missed is an error.
        context.load_cert_chain(cert_path, key_path, password=_no_passphrase)
    except TlsError:
        raise
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise TlsError(
                f"the TLS key {key_path} is not the key of the certificate {cert_path}"
            ) from None
        raise TlsError(
            f"cannot use the TLS certificate {cert_path} with the key {key_path}: {error}"
        ) from None
    except OSError as error:  # replaced between the read above and this one
        raise TlsError(f"cannot read {error.filename}: {error.strerror}") from None
    return context


def _read(path: str, what: str, option: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read(1 << 20)  # a chain is a few KiB: a larger file is not one
    except OSError as error:
        raise TlsError(f"cannot read the TLS {what} {path} ({option}): {error.strerror}") from None


def _no_passphrase() -> bytes:
    raise TlsError("the TLS key is encrypted: give the hub a key without passphrase")
