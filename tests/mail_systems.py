"""Messages as Exchange Online and Gmail deliver them to a mailbox, for the tests of [office] mail_system.

Each function takes a message as its sender's client wrote it and adds what the receiving service adds, in
the service's order; every header name, value shape and position follows a published real message:

Exchange Online, mail between two mailboxes of the tenant (`exchange_internal`):
- Microsoft Graph docs, "Get MIME content from a message" (microsoftgraph/microsoft-graph-docs-contrib,
  concepts/outlook-get-mime-message.md): an internal message as the mailbox holds it: Received lines on
  top ("with mapi"), the author's headers, then X-MS-Exchange-Organization-AuthAs: Internal,
  -AuthMechanism: 04, -AuthSource, X-MS-Has-Attach, -Network-Message-Id, -SCL: -1, X-MS-TNEF-Correlator,
  -RecordReviewCfmType: 0, x-ms-publictraffictype: Email. No DKIM signature.
- linux-kernel list, <20190819125611.GA5808@hpe.com> (19 Aug 2019, delivered in HPE's tenant and forwarded
  on with its stamp): -MessageDirectionality: Originating, -AuthSource, -AuthAs: Internal,
  -AuthMechanism: 10, then X-MS-Exchange-CrossTenant-Id (the tenant) and -FromEntityHeader below the
  author's headers; CrossTenant-AuthAs: Internal as on every tenant's outgoing mail (Oracle, Intel, NVIDIA
  patches on the same lists).
- speakup list, <5d7172a3-21b8-72ca-7e85-b7ea04b4b37c@math.wisc.edu> (16 Aug 2022): what Exchange stamps on
  mail its tenant sends, above the Received lines of the sending side:
  "Authentication-results: dkim=none (message not signed) header.d=none;dmarc=none action=none
  header.from=…;": the SPF-less, DKIM-less results that refuse internal mail under mail_system "authres".

Exchange Online, mail from outside (`exchange_inbound`):
- Microsoft Learn, "Anti-spam message headers in cloud organizations" (MicrosoftDocs/defender-docs,
  defender-office-365/message-headers-eop-mdo.md): the Authentication-Results syntax without authserv-id,
  "spf=pass (sender IP is …) smtp.mailfrom=…", "dkim=pass (signature was verified) header.d=…",
  "dmarc=pass action=none header.from=…", "compauth=pass reason=100".
- sisimai set-of-emails lhost-office365-04…12 (in the shared corpus): internal Received lines on top, then
  Authentication-Results, Received-SPF and the front end's Received (…mail.protection.outlook.com); below the
  author's headers -MessageDirectionality: Incoming, X-MS-Exchange-Transport-CrossTenantHeadersStripped,
  -AuthSource: the front end, -AuthAs: Anonymous, CrossTenant-Id (the receiving tenant), FromEntityHeader:
  Internet. The linux-erofs list's phishing mail of 15 Jan 2025 ("A New Document Was Shared With Lists on
  Docusign") carried a forged "X-Ms-Exchange-Organization-Authas: Internal74" from outside.

Gmail / Google Workspace (`google_inbound`):
- Kinecho/cactus, functions/src/inbound/test_data/blitheFailed.ts (f8f1ef3): Delivered-To, Received "by
  2002:…", X-Received, ARC-Seal/ARC-Message-Signature (d=google.com) and ARC-Authentication-Results
  "i=1; mx.google.com; …", Return-Path, the Received line "by mx.google.com", Received-SPF, then
  Authentication-Results "mx.google.com; dkim=pass header.i=@… header.s=… header.b=…; spf=pass (google.com:
  domain of … designates … as permitted sender) smtp.mailfrom=…; dmarc=pass (p=NONE sp=QUARANTINE dis=NONE)
  header.from=…", above the sender's DKIM-Signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from email import message_from_bytes
from email.utils import getaddresses

TENANT = "3f8e2d41-7c5a-4b9e-9d2f-6a1b0c7e5d93"  # the office's tenant in these tests
# Another organization's tenant: the one the sisimai samples were delivered in (outlook.com's).
OTHER_TENANT = "84df9e7f-e9f6-40af-b435-aaaaaaaaaaaa"
MAILBOX_SERVER = "SA1PR09MB8411.namprd09.prod.outlook.com"
FRONT_END = "BN1PEPF0000467F.namprd09.prod.outlook.com"
DATE = "Mon, 23 Nov 2026 14:00:01 +0000"

Headers = Sequence[tuple[str, str]]


def exchange_results(domain: str, *, spf: str = "pass", dkim: str = "pass", dmarc: str = "pass",
                     compauth: str = "pass 100", sender_ip: str = "192.0.2.25") -> str:
    """Authentication-Results as Exchange Online writes them for mail from outside: no authserv-id."""
    outcome, _, reason = compauth.partition(" ")
    signature = "(signature was verified)" if dkim == "pass" else "(message not signed)"
    signer = domain if dkim == "pass" else "none"
    return (f"spf={spf} (sender IP is {sender_ip})\r\n smtp.mailfrom={domain}; dkim={dkim} {signature}\r\n"
            f" header.d={signer};dmarc={dmarc} action=none\r\n header.from={domain};compauth={outcome} "
            f"reason={reason or '000'}")


def exchange_internal(message: bytes, *, tenant: str = TENANT, sender_domain: str = "doe.example.gov",
                      stamp: Headers | None = None) -> bytes:
    """`message` as a mailbox of `tenant` holds it when another mailbox of the tenant sent it: Exchange's
    trace headers on top, its organization stamp (`stamp`, or the genuine one) below the author's."""
    above = [
        ("Received", f"from {MAILBOX_SERVER} (2603:10b6:806:372::9) by\r\n BN0PR09MB7293.namprd09.prod.outlook.com "
                     f"with HTTPS; {DATE}"),
        ("Authentication-Results", "dkim=none (message not signed)\r\n header.d=none;dmarc=none action=none\r\n"
                                   f" header.from={sender_domain};"),
        ("Received", f"from {MAILBOX_SERVER}\r\n ([fe80::5bf:5059:4ca0:5017]) by {MAILBOX_SERVER}\r\n"
                     f" ([fe80::5bf:5059:4ca0:5017%4]) with mapi id 15.20.8293.000; {DATE}"),
    ]
    below = [("X-MS-Has-Attach", ""), ("X-MS-TNEF-Correlator", ""), *(stamp if stamp is not None else
                                                                      internal_stamp(tenant)),
             ("X-MS-Exchange-Organization-SCL", "-1"), ("X-MS-Exchange-Organization-RecordReviewCfmType", "0"),
             ("x-ms-publictraffictype", "Email"),
             ("X-MS-Exchange-Transport-CrossTenantHeadersStamped", "BN0PR09MB7293")]
    return _delivered(message, above, below)


def internal_stamp(tenant: str = TENANT, auth_as: str = "Internal") -> list[tuple[str, str]]:
    """The organization and tenant stamp Exchange appends to mail sent inside `tenant`."""
    return [
        ("X-MS-Exchange-Organization-MessageDirectionality", "Originating"),
        ("X-MS-Exchange-Organization-AuthAs", auth_as),
        ("X-MS-Exchange-Organization-AuthMechanism", "04"),
        ("X-MS-Exchange-Organization-AuthSource", MAILBOX_SERVER),
        ("X-MS-Exchange-Organization-Network-Message-Id", "0ffdb402-ec03-42c8-5d32-08d4f37bb517"),
        ("X-MS-Exchange-CrossTenant-Network-Message-Id", "0ffdb402-ec03-42c8-5d32-08d4f37bb517"),
        ("X-MS-Exchange-CrossTenant-AuthAs", "Internal"),
        ("X-MS-Exchange-CrossTenant-AuthSource", MAILBOX_SERVER),
        ("X-MS-Exchange-CrossTenant-originalarrivaltime", "23 Nov 2026 14:00:01.1821\r\n (UTC)"),
        ("X-MS-Exchange-CrossTenant-fromentityheader", "Hosted"),
        ("X-MS-Exchange-CrossTenant-id", tenant),
        ("X-MS-Exchange-CrossTenant-mailboxtype", "HOSTED"),
    ]


def exchange_inbound(message: bytes, results: str | None, *, tenant: str = TENANT,
                     stamp: Headers | None = None) -> bytes:
    """`message` from outside the organization as a mailbox of `tenant` holds it: Exchange's Authentication-
    Results (`results`; None: none) above its front end's Received line, its stamp below the author's headers
    (`stamp`, or the genuine one for anonymous mail)."""
    above = [
        ("Received", f"from {FRONT_END.replace('PEPF', 'CA')} (2603:10b6:208:2c4::28)\r\n by "
                     f"BN0PR09MB7293.namprd09.prod.outlook.com with Microsoft SMTP Server\r\n (version=TLS1_2, "
                     f"cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.9818.21; {DATE}"),
        *([("Authentication-Results", results)] if results is not None else []),
        ("Received-SPF", "Pass (protection.outlook.com: domain of ssa.gov designates\r\n 192.0.2.25 as permitted "
                         "sender) receiver=protection.outlook.com;\r\n client-ip=192.0.2.25; helo=mx.example.net; "
                         "pr=C"),
        ("Received", f"from mx.example.net (192.0.2.25) by\r\n {FRONT_END.split('.')[0]}.mail.protection.outlook.com "
                     f"(10.167.242.41) with Microsoft\r\n SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) "
                     f"id\r\n 15.20.9769.17 via Frontend Transport; {DATE}"),
    ]
    below = stamp if stamp is not None else [
        ("X-MS-Exchange-Organization-MessageDirectionality", "Incoming"),
        ("X-MS-Exchange-Transport-CrossTenantHeadersStripped", f"{FRONT_END.split('.')[0]}.eop-nam09.prod.outlook.com"),
        ("X-MS-Exchange-Organization-AuthSource", f"{FRONT_END.split('.')[0]}.eop-nam09.prod.outlook.com"),
        ("X-MS-Exchange-Organization-AuthAs", "Anonymous"),
        ("X-MS-Exchange-CrossTenant-Id", tenant),
        ("X-MS-Exchange-CrossTenant-FromEntityHeader", "Internet"),
    ]
    return _delivered(message, above, below)


def google_results(domain: str, address: str, *, dkim: str = "pass", spf: str = "pass", dmarc: str = "pass",
                   server: str = "mx.google.com") -> str:
    """Authentication-Results as Gmail writes them."""
    return (f"{server};\r\n       dkim={dkim} header.i=@{domain} header.s=google header.b=sVaBvAjB;\r\n"
            f"       spf={spf} (google.com: domain of {address} designates 209.85.220.41 as permitted sender) "
            f"smtp.mailfrom={address};\r\n       dmarc={dmarc} (p=QUARANTINE sp=QUARANTINE dis=NONE) "
            f"header.from={domain}")


def google_inbound(message: bytes, results: str | None, *, arc: str | None = None, recipient: str = "") -> bytes:
    """`message` as a Gmail / Google Workspace mailbox holds it: Google's ARC set (its results `arc`, by
    default the same as `results`; "": no ARC set) and its Authentication-Results (`results`; None: none) on
    top."""
    arc_results = (arc or None) if arc is not None else results
    envelope = getaddresses([str(message_from_bytes(message).get("From", ""))])
    above = [
        ("Delivered-To", recipient or "casework@doe.example.gov"),
        ("Received", f"by 2002:a0c:a8c9:0:0:0:0:0 with SMTP id h9csp151919qvc;\r\n        {DATE}"),
        ("X-Received", f"by 2002:a5d:8508:: with SMTP id q8mr1983305ion.31.1561512765132;\r\n        {DATE}"),
    ]
    if arc_results is not None:
        above += [("ARC-Seal", "i=1; a=rsa-sha256; t=1795442401; cv=none;\r\n        d=google.com; s=arc-20240605;"
                               "\r\n        b=SZjMQUq2+7wqprBWA1Nh+RkrrQaik0LGgEFkuHpRYhGFWk4G8hSJVQjT54FcldRy/C"),
                  ("ARC-Message-Signature", "i=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; "
                                            "s=arc-20240605;\r\n        h=to:subject:message-id:date:from;\r\n"
                                            "        bh=ZZg4f9C01njsNXeQslL77bcagRrxFYE1g4tAku1/Gnk=;\r\n"
                                            "        b=VOXkG2xWbrs/NYdst2XdbXY/WUXXWx/lTTRylUPJukb2G0hqMq2Se9"),
                  ("ARC-Authentication-Results", f"i=1; {arc_results}")]
    above += [
        ("Return-Path", f"<{envelope[0][1] if envelope else ''}>"),
        ("Received", f"from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n"
                     f"        by mx.google.com with SMTPS id 131sor39706321jac.14.2026.11.23.06.00.01\r\n"
                     f"        (Google Transport Security);\r\n        {DATE}"),
        ("Received-SPF", "pass (google.com: domain of sender designates 209.85.220.41 as permitted sender) "
                         "client-ip=209.85.220.41;"),
        *([("Authentication-Results", results)] if results is not None else []),
    ]
    return _delivered(message, above, [])


def _delivered(message: bytes, above: Headers, below: Headers) -> bytes:
    """`above` on top of the message's own headers and `below` after them, as the service adds each, in the
    message's own line ends."""
    eol = b"\r\n" if b"\r\n\r\n" in message else b"\n"
    head, blank, body = message.partition(eol + eol)
    assert blank, "a message with a header block"
    return _lines(above, eol) + head + eol + _lines(below, eol) + eol + body


def _lines(headers: Headers, eol: bytes) -> bytes:
    return b"".join(f"{name}: {value}".encode().replace(b"\r\n", eol) + eol for name, value in headers)
