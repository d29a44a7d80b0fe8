"""Where the quoted history of a reply starts, and where its signature does: mail-parser-reply's header
patterns and the marks it misses (attribution lines in any language, localized Outlook blocks, phone
signatures, separators), each for cases of the test corpus named in its comment. Used by reply_text.
"""

from __future__ import annotations

import re
import warnings

from mailparser_reply import EmailReplyParser

# mail-parser-reply's header patterns, compiled once. Only English and Spanish: each language adds about
# 0.1 µs a character to a search, and the other languages' headers are caught by the rules below.
LANGUAGES = ["en", "es"]
with warnings.catch_warnings():
    # read() runs the library's re.sub(…, re.MULTILINE), a positional `count` that Python 3.13 deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    LIBRARY_HEADER = EmailReplyParser(languages=LANGUAGES).read("").HEADER_REGEX

_FLAGS = re.MULTILINE | re.IGNORECASE
# Patterns that run over the whole text must not let a space run on into the next line.
_SP = r"[^\S\n]"

MARKER = re.compile(
    (
        r"^(?:"
        # Separator lines naming the original or forwarded message (Thunderbird's in markdown stars:
        # discourse embedded_email_9; German, Danish, Spanish: talon, crisp, discourse spanish_2).
        r"[*_]*-{2,}_SP*(?:original message|reply message|forwarded message|mensaje original|mensaje reenviado"
        r"|message d'origine|message transf[ée]r[ée]|urspr[üu]ngliche nachricht|antwort nachricht"
        r"|weitergeleitete nachricht|oprindelig (?:meddelelse|besked)|messaggio originale|messaggio inoltrato"
        r"|oorspronkelijk bericht|doorgestuurd bericht|mensagem original|mensagem encaminhada)_SP*-{2,}[*_]*"
        # Apple Mail forwards.
        r"|(?:begin forwarded message|inicio del mensaje reenviado|d[ée]but du message r[ée]exp[ée]di[ée]"
        r"|anfang der weitergeleiteten (?:e-mail|nachricht))_SP*:"
        # Android, Samsung and Zoho: "---- On <date> <name> wrote ----" (talon test_android_wrote).
        r"|-{2,}_SP*.{0,200}?\b(?:wrote|escribi[óo]|a [ée]crit|schrieb)_SP*-{2,}"
        # Old Gmail: "2016-03-03 17:21 GMT+01:00 Name <addr>:" (discourse embedded_email_4, 11, 14).
        r"|\d{4}[-/]\d{1,2}[-/]\d{1,2}_SP.{0,200}?(?:\bGMT[+-]\d|@).*"
        # "On <date> Name <addr> wrote" without the colon (crisp email_24).
        r"|On_SP.{5,200}<[^<>\s]+@[^<>\s]+>_SP*wrote"
        # Polymail wraps the address over four lines (talon test_pattern_on_date_polymail).
        r"|On_SP.{5,200}\n\n<\nmailto:.*\n> wrote:"
        r")$"
    ).replace("_SP", _SP),
    _FLAGS,
)

# An Outlook block in any language: a From line, then another header line within three lines
# (Italian, Swedish, French, Dutch, Chinese…: discourse email_headers_4, crisp email_10 to 13, 22).
_FROM_KEYS = (
    r"from|de|von|van|da|od|fr[åa]n|fra|от|发件人|寄件者|差出人|보낸 사람|l[äa]hett[äa]j[äa]|felad[óo]"
    r"|kimden|remetente|exp[ée]diteur|reply-to|responder a|risposta|antwort an|message du"
)
_HEADER_KEYS = (
    r"sent|date|to|subject|cc|enviado|fecha|para|asunto|envoy[ée](?: le)?|[àa]|objet|gesendet|datum|an"
    r"|betreff|verzonden|aan|onderwerp|inviato|data|oggetto|wys[łl]ano|do|temat|skickat|till|[äa]mne"
    r"|sendt|dato|til|emne|отправлено|дата|кому|тема|发送时间|收件人|主题|抄送|送信日時|宛先|件名"
    r"|보낸 날짜|받는 사람|제목"
)
FROM_BLOCK = re.compile(
    rf"^[*> \t]*+(?:{_FROM_KEYS})[* \t]*+[:：].*(?:\n.*){{0,2}}?\n[*> \t]*+(?:{_HEADER_KEYS})[* \t]*+[:：]",
    _FLAGS,
)
FROM_LINE = re.compile(rf"^[*> \t]*+(?:{_FROM_KEYS})[* \t]*+[:：]", re.IGNORECASE)

# Attribution lines ("<date>, <name> wrote:") in any language: a "wrote" verb at the end, a verb that
# comes before the name (German, Scandinavian, Dutch), or an address then a colon (Mail.ru, Russian).
ATTRIBUTION = re.compile(
    r"(?:\b(?:wrote|sent|escribi[óo]|escreveu|escrit|a [ée]crit|scrisse|ha scritto|schreef|geschreven|skrev"
    r"|kirjoitti|pisze|napisa[łl](?:\(a\))?|napsal(?:\(a\))?|написал(?:\(а\)|а)?|пише|đã viết|yazd[ıi])"
    r"|\b(?:schrieb|skrev|schreef)\b.{0,120}|写道|寫道|작성|のメッセージ|<[^<>\s]+@[^<>\s]+>)\s*[:：]$",
    re.IGNORECASE,
)
LINE_END_COLON = re.compile(r"[:：](?=\n|\Z)")
# Where the library's patterns can start: a line ending in a colon, a "-----" line, or a "Key:" line with
# another within three lines (its Outlook blocks have two or more).
_KEY = r"^[>* \t]*+[^\W\d_][\w-]{0,20}[ \t*]*[:：]"
HEADERISH = re.compile(rf"[:：](?=\n|\Z)|^-{{5,}}|{_KEY}(?=.*(?:\n.*){{0,2}}\n{_KEY[1:]})", re.MULTILINE)
# Headers written by mail clients carry a time of day or an address. "On Monday my caseworker wrote:"
# or a typed memo ("Date: March 5 / To: Rep. Smith") carries neither and stays text.
TIME_OR_ADDRESS = re.compile(r"@|\b\d{1,2}[:.h]\d{2}\b")
DATE_OR_ADDRESS = re.compile(r"@|\b\d{1,2}[:.h]\d{2}\b|\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\b(?:19|20)\d{2}\b")
# "28." is a German date ("schrieb am Fr., 28.\nApr. 2017", discourse embedded_email_german_4), not an end.
SENTENCE_END = re.compile(r"(?:[!?]|(?<!\d)\.)$")

# Phone and mail-app signatures (discourse signatures, github email_iPhone, crisp email_ios_outlook_fr).
# A few words at most, so "Sent from my desk, is much easier …" stays (github email_sent_from_my_not_signature).
_DEVICE_SIGNATURE_BODY = (
    r"[(<\[ \t]*+(?:"
    r"(?:sent|enviado|envoy[ée]|inviato|verzonden|sendt|skickat|wys[łl]ano|gesendet)_SP+"
    r"(?:from|with|via|by|using|desde|con|de|depuis|avec|[àa] partir de|da|met|vanaf|fra|fr[åa]n|z|von)_SP+"
    r"(?:(?:my|a|an|the|mi|mon|ma|mijn|min|meinem)_SP+)?\S{1,80}(?:_SP+\S{1,80}){0,5}?"
    # "Sent via the Samsung Galaxy S23 Ultra 5G, an AT&T 5G smartphone"
    r"|sent_SP+(?:via|from)_SP+(?:the|my)_SP+[^.!?\n]{0,80}\b(?:smartphone|device)"
    r"|(?:get|obtener|obtenir|descargar)_SP+\[?outlook\b.*"
    r"|(?:diese nachricht wurde_SP+)?(?:von|mit)_SP+meinem_SP+.{1,60}_SP+gesendet"
    r"|(?:\S{1,40}_SP+)?from_SP+(?:my_SP+)?(?:mobile|i?phone|ipad|android|cell)\b(?:_SP+\S{1,40}){0,2}"
    r"|從我的.{1,30}傳送|从我的.{1,30}发送"
    r")[ \t.!)>\]]*(?:<[^>\n]*>|\([^)\n]*\))?[ \t.!)>\]]*"
    r"(?:[,.;:-]?_SP*(?:please_SP+)?(?:excuse|pardon|forgive)\b.*)?$"
).replace("_SP", _SP)
DEVICE_SIGNATURE = re.compile(_DEVICE_SIGNATURE_BODY, re.IGNORECASE)
DEVICE_SIGNATURE_LINE = re.compile("^" + _DEVICE_SIGNATURE_BODY, _FLAGS)
# In mid-text such a line ends the new text only if it names a device or app at once; the original
# follows it (crisp email_15, email_german_3).
DEVICE_WORD = re.compile(
    r"iphone|ipad|ipod|android|blackberry|samsung|galaxy|mobile|phone|smartphone|\bcell|tablet|verizon"
    r"|t-mobile|at&t|sprint|huawei|pixel|motorola|nokia|xiaomi|wiko|outlook|yahoo|\baol\b|gmail|proton"
    r"|typeapp|bluemail|airmail|mailbox|mail for windows|acompli|m[óo]vil|tel[ée]fono|portable|handy|mobilger",
    re.IGNORECASE,
)

SEPARATOR = re.compile(r"^[-_=*~#+\u1427\u2014\u2013\s]*$")  # also blank; U+1427 is Gmail's tracker "ᐧ"
SIGNATURE_START = re.compile(r"^(?:--|_{2,})$")  # "-- " (RFC 3676) stripped; "__" before list footers
