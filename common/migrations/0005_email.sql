-- 0005 email: lookups the email channel makes on every reply and bounce.
--
-- Threading matches a reply's In-Reply-To/References against the
-- Message-IDs we sent (outbox.sent_message_id) as well as the stored
-- messages (messages.message_id, indexed since 0001); a delivery report is
-- matched to the outbox row it reports on by the same column.
SET LOCAL search_path = tawasul;

CREATE INDEX outbox_sent_message_id_idx ON outbox (sent_message_id)
    WHERE sent_message_id IS NOT NULL;
