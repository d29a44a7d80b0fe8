"""MMS media the webhook left to fetch: a text is stored and answered at once, its photos downloaded after.

The webhook files each media item as a file on the case named ``ME….jpg (to be fetched)``, with no bytes:
that row is the record of what is still to download, so a crash between the answer and the download
loses nothing. `fetch_pending_media` downloads them (right after the answer, and again at every start of
the web server and every SMS poll for what a crash or an outage left), then gives the file its name, type,
size and bytes; an item Twilio refuses keeps its name with the reason, as a polled text's would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from hub.core.app import Hub
from hub.core.file_store import bytes_are_kept, keep_attachment_bytes
from hub.core.models import Attachment, Message
from hub.delivery.twilio import Media, SmsLine
from hub.delivery.twilio_http import TWILIO_API
from hub.intake.parse.sms import media_filename
from hub.sources.sms_record import SOURCE

log = logging.getLogger(__name__)
PENDING = "to be fetched"


def pending(sid: str, content_type: str) -> Media:
    """A media item to download after the text is stored."""
    return Media(sid, content_type, None, PENDING)


def fetch_pending_media(hub: Hub, message_sid: str = "", should_stop: Callable[[], bool] = lambda: False) -> int:
    """Download the media stored texts still wait for (those of `message_sid` alone, when given); how many
    items were settled. TemporaryError when Twilio stays unreachable: the rest wait for the next run."""
    sms = hub.config.sms
    if sms is None:
        return 0
    query = (select(Attachment.id, Attachment.filename, Attachment.content_type, Message.dedupe_key)
             .join(Message, Attachment.message_id == Message.id)
             .where(Message.source == SOURCE, Attachment.filename.endswith(f" ({PENDING})"), ~bytes_are_kept())
             .order_by(Attachment.id))
    if message_sid:
        query = query.where(Message.dedupe_key == f"twilio:{message_sid}")
    with hub.sessions() as session:
        rows = session.execute(query).all()
    line = SmsLine(sms, hub.config.limits.max_attachment_bytes)
    settled = 0
    for row_id, filename, content_type, dedupe_key in rows:
        if should_stop():
            break
        text_sid, media_sid = dedupe_key.removeprefix("twilio:"), filename.partition(".")[0]
        url = f"{TWILIO_API}/2010-04-01/Accounts/{sms.account_sid}/Messages/{text_sid}/Media/{media_sid}"
        media = line.download(url, media_sid, content_type)
        settled += _settle(hub, row_id, filename, media)
        log.info("text %s: media item %s %s", text_sid, media_sid, "fetched" if media.data is not None else
                 "not downloaded")
    return settled


def _settle(hub: Hub, row_id: int, pending_name: str, media: Media) -> int:
    """The downloaded item on its file row, unless another run settled it first; 1 when this one did."""
    limit = hub.config.limits.max_attachment_bytes
    with hub.sessions.begin() as session:
        attachment = session.get(Attachment, row_id, with_for_update=True)
        if attachment is None or attachment.filename != pending_name:
            return 0
        attachment.filename = media_filename(media.sid, media.content_type, media.problem)
        attachment.content_type = media.content_type
        if media.data is not None:
            attachment.size = len(media.data)
            if len(media.data) <= limit:
                attachment.oversized = False
                keep_attachment_bytes(session, attachment, media.data)
    return 1
