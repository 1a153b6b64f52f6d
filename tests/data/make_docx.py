"""Build a tiny, deterministic .docx (and a mail carrying it) in memory for the parse tests.

No binary fixture is committed: the archive is a few hundred bytes and building it here
shows exactly what the decoder is expected to read.
"""

from __future__ import annotations

import base64
import io
import zipfile
from xml.sax.saxutils import escape

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

MOU_PARAGRAPHS = (
    "Memorandum of Understanding",
    "Goals: exchange of children's books and a staff pen-pal programme",
    "Working language: English",
    "签署人：王丽（馆长）",
    "I agree",
)


def _paragraph(text: str) -> str:
    # Split across two runs, as Word does after an edit, so the decoder must join runs.
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    return (
        f'<w:p><w:r><w:t xml:space="preserve">{escape(head)}</w:t></w:r>'
        f'<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">{escape(tail)}</w:t></w:r></w:p>'
    )


def make_docx(paragraphs: tuple[str, ...] = MOU_PARAGRAPHS) -> bytes:
    """A minimal valid .docx whose body holds `paragraphs`, byte-for-byte reproducible."""
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}">'
        f"<w:body>{''.join(_paragraph(p) for p in paragraphs)}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("word/document.xml", document),
        ):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 30, 12, 0, 0)), data)
    return buffer.getvalue()


def make_docx_mail(docx: bytes | None = None) -> bytes:
    """A signed-MOU reply from Outlook with the .docx attached."""
    docx = make_docx() if docx is None else docx
    encoded = base64.encodebytes(docx).decode("ascii")
    return (
        "Received: from HK0PR03MB4321.apcprd03.prod.outlook.example (2603:1096:203:8c::11)\n"
        " by mx.program.example with HTTPS; Mon, 30 Nov 2026 04:12:40 +0000\n"
        "From: Wang Li <wangli@citylib.example.cn>\n"
        "To: Sister Libraries <sisters@program.example>\n"
        "Subject: RE: Memorandum of understanding\n"
        "Date: Mon, 30 Nov 2026 04:12:33 +0000\n"
        "Message-ID: <HK0PR03MB43217A8B9C0D1E2F@HK0PR03MB4321.apcprd03.prod.outlook.example>\n"
        "In-Reply-To: <mf.mou.42@program.example>\n"
        "References: <mf.mou.42@program.example>\n"
        "Content-Language: zh-CN\n"
        "X-MS-Has-Attach: yes\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="_004_HK0PR03MB4321_"\n\n'
        "--_004_HK0PR03MB4321_\n"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: 8bit\n\n"
        "Please find the signed MOU attached.\n\n"
        "--_004_HK0PR03MB4321_\n"
        "Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
        '\tname="=?utf-8?B?5aeQ5aa56aaGTU9VLmRvY3g=?="\n'
        "Content-Description: MOU.docx\n"
        "Content-Disposition: attachment;\n"
        f'\tfilename="=?utf-8?B?5aeQ5aa56aaGTU9VLmRvY3g=?="; size={len(docx)}\n'
        "Content-Transfer-Encoding: base64\n\n"
        f"{encoded}\n--_004_HK0PR03MB4321_--\n"
    ).encode()
