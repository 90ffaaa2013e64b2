-- 0001 schema v1: the system of record (DESIGN.md "Data").
--
-- The engine is the only writer of case state. Business time always comes
-- from the service as a parameter (no rule uses now()); the defaults below
-- only stamp bookkeeping columns. Enumerations are CHECK constraints so a bug
-- in any writer cannot store a status the lifecycle does not know.

CREATE SCHEMA IF NOT EXISTS tawasul;
SET LOCAL search_path = tawasul;

-- us - a timestamp as microseconds since the epoch, the services' tw_time.
CREATE FUNCTION us(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

-- The General Assembly register, imported from CSV by the CLI.
CREATE TABLE members (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_no   text COLLATE "C" NOT NULL UNIQUE
                CHECK (member_no ~ '^[A-Za-z0-9][A-Za-z0-9./-]{0,31}$'),
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    email       text CHECK (email IS NULL OR email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    phone       text CHECK (phone IS NULL OR phone ~ '^\+?[0-9]{5,20}$'),
    lang        text NOT NULL DEFAULT 'ar' CHECK (lang IN ('ar', 'en')),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Intake matches a sender by email (case-insensitive) and by phone.
CREATE INDEX members_email_idx ON members (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX members_phone_idx ON members (phone) WHERE phone IS NOT NULL;

CREATE TABLE staff (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text COLLATE "C" NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9._-]{1,31}$'),
    display_name  text NOT NULL,
    email         text,
    role          text NOT NULL
                  CHECK (role IN ('agent', 'researcher', 'committee', 'manager', 'admin')),
    password_hash text,
    token_hash    text,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Per-prefix, per-year counters behind PREFIX-YYYY-NNNNNN. A row lock on the
-- counter hands out gap-free blocks of numbers to one batch at a time.
CREATE TABLE ref_counters (
    prefix  text COLLATE "C" NOT NULL,
    year    integer NOT NULL,
    last    integer NOT NULL DEFAULT 0 CHECK (last BETWEEN 0 AND 999999),
    PRIMARY KEY (prefix, year)
);

CREATE TABLE cases (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref              text COLLATE "C" NOT NULL UNIQUE CHECK (ref ~ '^[A-Z]{1,8}-[0-9]{4}-[0-9]{6}$'),
    intake_key       text COLLATE "C" NOT NULL UNIQUE CHECK (length(intake_key) BETWEEN 1 AND 200),
    member_id        bigint REFERENCES members (id),
    verified         boolean NOT NULL DEFAULT false,
    -- What the requester told us about themselves, kept even when no member
    -- matched, so staff can verify and link the case later.
    contact          jsonb NOT NULL DEFAULT '{}',
    channel          text NOT NULL
                     CHECK (channel IN ('email', 'web', 'phone', 'letter', 'walk_in', 'social')),
    kind             text NOT NULL DEFAULT 'request'
                     CHECK (kind IN ('inquiry', 'request', 'complaint', 'suggestion')),
    category         text,
    subject          text NOT NULL,
    status           text NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'awaiting_member', 'with_researcher',
                                       'in_committee', 'accepted', 'rejected',
                                       'in_service', 'resolved', 'closed', 'withdrawn')),
    assignee         bigint REFERENCES staff (id),
    priority         smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
    created_by       text,
    received_at      timestamptz NOT NULL,
    sla_due_at       timestamptz NOT NULL,
    sla_warn_at      timestamptz,
    sla_paused_since timestamptz,
    sla_paused_total interval NOT NULL DEFAULT '0',
    sla_breached_at  timestamptz,
    first_response_at timestamptz,
    decided_at       timestamptz,
    decision         text CHECK (decision IS NULL OR decision IN ('accepted', 'rejected')),
    attested_at      timestamptz,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL,
    CHECK (sla_due_at >= received_at)
);
CREATE INDEX cases_member_idx ON cases (member_id);
CREATE INDEX cases_status_idx ON cases (status, received_at);
CREATE INDEX cases_assignee_idx ON cases (assignee, status) WHERE assignee IS NOT NULL;
-- The SLA sweep: open, unpaused, not yet breached cases by due and warn time.
CREATE INDEX cases_sla_due_idx ON cases (sla_due_at)
    WHERE sla_breached_at IS NULL AND decided_at IS NULL AND sla_paused_since IS NULL
      AND status NOT IN ('resolved', 'closed', 'withdrawn', 'rejected', 'accepted', 'in_service');
CREATE INDEX cases_sla_warn_idx ON cases (sla_warn_at)
    WHERE sla_warn_at IS NOT NULL AND sla_breached_at IS NULL AND decided_at IS NULL
      AND sla_paused_since IS NULL;

-- Append-only audit trail: every change to a case, who made it and when.
CREATE TABLE case_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z_.]*$'),
    from_status text,
    to_status   text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case_idx ON case_events (case_id, at, id);

CREATE FUNCTION case_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END $$;
CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

-- Correspondence in and out: mail, call notes, letters, web submissions,
-- staff notes. message_id is the RFC 5322 Message-ID (without <>), ours or
-- theirs, so replies thread back to their case.
CREATE TABLE messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
    channel     text NOT NULL
                CHECK (channel IN ('email', 'web', 'phone', 'letter', 'walk_in', 'social', 'note')),
    author      text,
    from_addr   text,
    to_addr     text,
    subject     text,
    body        text NOT NULL DEFAULT '',
    message_id  text COLLATE "C",
    in_reply_to text,
    refs        text,
    intake_key  text COLLATE "C"
);
CREATE INDEX messages_case_idx ON messages (case_id, at, id);
-- Threading looks messages up by Message-ID; appends are made idempotent by
-- their bus key (a case's first message is covered by cases.intake_key).
CREATE UNIQUE INDEX messages_message_id_key ON messages (message_id)
    WHERE message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_intake_key_key ON messages (intake_key)
    WHERE intake_key IS NOT NULL;

-- Attachment bytes, content-addressed: the same scan attached twice is
-- stored once.
CREATE TABLE blobs (
    sha256  text COLLATE "C" PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size    bigint NOT NULL CHECK (size >= 0),
    data    bytea NOT NULL
);
CREATE TABLE attachments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  bigint NOT NULL REFERENCES messages (id),
    filename    text NOT NULL,
    mime_type   text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    sha256      text COLLATE "C" NOT NULL REFERENCES blobs (sha256)
);
CREATE INDEX attachments_message_idx ON attachments (message_id);

-- One row per email to send, written in the same transaction as the change
-- it reports. The notifier claims pending rows with FOR UPDATE SKIP LOCKED.
-- recipient is NULL when the member has no address: the notifier records
-- that on the case so staff phone them instead.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         bigint REFERENCES cases (id),
    event           text NOT NULL,
    recipient       text,
    lang            text NOT NULL DEFAULT 'ar' CHECK (lang IN ('ar', 'en')),
    template        text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    subject         text,
    body            text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    sent_at         timestamptz,
    sent_message_id text
);
CREATE INDEX outbox_pending_idx ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_case_idx ON outbox (case_id);

CREATE TABLE holidays (
    day   date PRIMARY KEY,
    name  text NOT NULL
);

CREATE TABLE surveys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     bigint NOT NULL UNIQUE REFERENCES cases (id),
    token_hash  text COLLATE "C" NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    answered_at timestamptz,
    rating      smallint CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    comment     text,
    CHECK ((answered_at IS NULL) = (rating IS NULL))
);
