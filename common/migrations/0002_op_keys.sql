-- 0002 op keys: idempotency for every bus op other than intake.
--
-- An intake is made idempotent by cases.intake_key. Every other op
-- (transition, assign, note, decide, attest, survey, bounce, ...) records its
-- key here in the same transaction as its effect, with the reply it gave: a
-- client that resends after a lost reply gets that reply again and the op is
-- not applied twice. Failed ops roll back and leave no key.
SET LOCAL search_path = tawasul;

CREATE TABLE op_keys (
    key     text COLLATE "C" PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    op      text NOT NULL,
    actor   text,
    case_id bigint REFERENCES cases (id),
    at      timestamptz NOT NULL,
    reply   jsonb NOT NULL
);
