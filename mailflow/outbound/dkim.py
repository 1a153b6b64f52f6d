"""DKIM signing of outgoing mail (dkimpy), as a transport that signs and hands on.

The outbox keeps the unsigned bytes; each send signs them just before the relay sees them, so
a retry carries a fresh signature over the very same mail. A key that cannot be read, is open
to others, or is not an RSA key dkimpy can use stops start-up (`DkimSigner.from_file`).
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from pathlib import Path

import dkim
import dkim.crypto

from mailflow.errors import ConfigError
from mailflow.outbound.transport import Transport

# RFC 8301: verifiers ignore RSA keys under 1024 bits; 2048 is what DNS hosts expect now.
MIN_KEY_BITS = 1024
# The headers a reader sees and a forwarder has no business changing.
SIGNED_HEADERS = (
    b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to",
    b"in-reply-to", b"references", b"mime-version", b"content-type", b"auto-submitted",
)  # fmt: skip


class DkimSigner:
    """Signs a whole message for `domain` with the key published at `selector._domainkey`."""

    def __init__(self, key_pem: bytes, selector: str, domain: str) -> None:
        self.key_pem, self.selector, self.domain = key_pem, selector, domain

    def __repr__(self) -> str:  # never shows the key
        return f"DkimSigner(s={self.selector}, d={self.domain})"

    @classmethod
    def from_file(cls, path: Path, selector: str, domain: str) -> DkimSigner:
        where = f"{path} (dkim.key_file)"
        try:
            mode = path.stat().st_mode & 0o777
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the DKIM key: {exc.strerror or exc}") from exc
        if mode & 0o077:
            # Whoever reads the key can sign mail as the program's domain.
            raise ConfigError(
                f"{where}: the DKIM key is open to group or others (mode {mode:04o}); "
                f"run chmod 600 {path}"
            )
        try:
            key = dkim.crypto.parse_pem_private_key(data.replace(b"\r\n", b"\n"))
        except (dkim.crypto.UnparsableKeyError, binascii.Error, ValueError) as exc:
            raise ConfigError(
                f"{where}: not an RSA private key in PEM form (PKCS#1 or PKCS#8): {exc}"
            ) from exc
        bits = int(key["modulus"]).bit_length()
        if bits < MIN_KEY_BITS:
            raise ConfigError(f"{where}: a {bits}-bit RSA key is too short; use 2048 bits")
        if not selector or not domain:
            raise ConfigError("dkim.selector and the signing domain must not be empty")
        return cls(data, selector, domain)

    def sign(self, raw: bytes) -> bytes:
        """`raw` with a DKIM-Signature header in front (relaxed/relaxed, rsa-sha256)."""
        present = {
            line.split(b":", 1)[0].strip().lower()
            for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            if line[:1] not in (b" ", b"\t") and b":" in line
        }
        signature = dkim.sign(
            raw, self.selector.encode(), self.domain.encode(), self.key_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[h for h in SIGNED_HEADERS if h in present],
        )  # fmt: skip
        return signature + raw


class SigningTransport:
    """A transport that DKIM-signs every mail, then hands it to `inner`."""

    def __init__(self, inner: Transport, signer: DkimSigner) -> None:
        self.inner, self.signer = inner, signer

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        self.inner.send(sender, recipients, self.signer.sign(raw))

    def close(self) -> None:
        self.inner.close()
