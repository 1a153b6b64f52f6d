"""A realistic application mail with a large PDF-like attachment, built deterministically.

A 20 MB fixture would bloat the repository; building it takes well under a second.
"""

from __future__ import annotations

import base64
import random

ATTACHMENT_NAME = "Application_Riverside_Library_scans.pdf"


def attachment_bytes(size_mb: int = 20) -> bytes:
    """`size_mb` MiB of PDF-looking bytes: header, seeded pseudo-random streams, trailer."""
    size = size_mb * 1024 * 1024
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    tail = b"\ntrailer\n<< /Root 1 0 R >>\nstartxref\n0\n%%EOF\n"
    filler = random.Random(20261130).randbytes(size - len(head) - len(tail))
    return head + filler + tail


def make_big_mail(size_mb: int = 20) -> bytes:
    """An application mail (Outlook style) with a `size_mb` MiB base64 PDF attachment."""
    encoded = base64.encodebytes(attachment_bytes(size_mb)).replace(b"\n", b"\r\n")
    head = (
        "Received: from mail.riverside-lib.example.org (mail.riverside-lib.example.org [203.0.113.5])\r\n"
        "\tby mx.program.example (Postfix) with ESMTPS id 7B8C9D0E1F\r\n"
        "\tfor <sisters@program.example>; Tue, 01 Dec 2026 15:00:03 +0000 (UTC)\r\n"
        "From: Riverside Public Library <director@riverside-lib.example.org>\r\n"
        "To: sisters@program.example\r\n"
        "Subject: Application: Riverside Public Library (scanned forms attached)\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 -0500\r\n"
        "Message-ID: <big-application-1@riverside-lib.example.org>\r\n"
        "X-Mailer: Microsoft Outlook 16.0\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="----=_NextPart_000_0001_01DB43A1.2B3C4D50"\r\n'
        "\r\n"
        "This is a multipart message in MIME format.\r\n\r\n"
        "------=_NextPart_000_0001_01DB43A1.2B3C4D50\r\n"
        'Content-Type: text/plain; charset="us-ascii"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
        "Library name: Riverside Public Library\r\n"
        "Country: United States\r\n"
        "City: Riverside\r\n"
        "Contact person: Dana Brooks\r\n\r\n"
        "Our scanned application forms are attached.\r\n\r\n"
        "------=_NextPart_000_0001_01DB43A1.2B3C4D50\r\n"
        f'Content-Type: application/pdf; name="{ATTACHMENT_NAME}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{ATTACHMENT_NAME}"\r\n\r\n'
    ).encode("ascii")
    return head + encoded + b"\r\n------=_NextPart_000_0001_01DB43A1.2B3C4D50--\r\n"
