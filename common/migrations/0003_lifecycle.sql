-- 0003 lifecycle and SLA: the status machine's bookkeeping, the SLA clock's
-- pauses, the sweeper's indexes and the report functions (issue 3).
--
-- Deadlines are computed in C by the one deadline function (common/sla.c)
-- and stored here precomputed; the sweeper finds cases through partial
-- indexes on those columns. Closed cases keep their figures (time to first
-- response and to decision in the policy's minutes, margin against the
-- target) so reports never recompute anything. Every time below is passed
-- in by a service ($1 / "at"): no rule here uses now().
SET LOCAL search_path = tawasul;

ALTER TABLE cases
    -- what staff recorded of the member service request form (per category
    -- the committee gate requires some of these), {"name": "value"}
    ADD COLUMN details jsonb NOT NULL DEFAULT '{}',
    -- how the applicant attested the data: {"by": staff, "how": ..., "note"}
    ADD COLUMN attestation jsonb,
    -- the clock: when the warning was recorded, when the clock stopped for
    -- good (decision, resolution of an inquiry, withdrawal)
    ADD COLUMN sla_warned_at timestamptz,
    ADD COLUMN sla_stopped_at timestamptz,
    ADD COLUMN resolved_at timestamptz,
    -- figures kept once the clock stops, in the policy's minutes (working
    -- minutes in business mode): receipt to first response, receipt to
    -- decision, and the margin left against the target (negative: late)
    ADD COLUMN first_response_minutes integer,
    ADD COLUMN decision_minutes integer,
    ADD COLUMN decision_margin_minutes integer;

-- The old sweep indexes listed open statuses; sla_stopped_at says it once.
DROP INDEX cases_sla_due_idx;
DROP INDEX cases_sla_warn_idx;
-- Cases whose warning is still to come, by warn time.
CREATE INDEX cases_sla_warn_idx ON cases (sla_warn_at)
    WHERE sla_warned_at IS NULL AND sla_breached_at IS NULL
      AND sla_stopped_at IS NULL AND sla_paused_since IS NULL
      AND sla_warn_at IS NOT NULL;
-- Cases whose breach is still to come, by due time.
CREATE INDEX cases_sla_due_idx ON cases (sla_due_at)
    WHERE sla_breached_at IS NULL AND sla_stopped_at IS NULL
      AND sla_paused_since IS NULL;
-- The open-cases report at the current time reads only these (index-only
-- counts and the first cases of each state by due time), so it stays fast
-- over a million open cases: paused ones, those at risk (warned or past
-- their warning time), and those breached and still open.
CREATE INDEX cases_sla_paused_idx ON cases (sla_due_at)
    WHERE sla_paused_since IS NOT NULL AND sla_stopped_at IS NULL
      AND sla_breached_at IS NULL;
CREATE INDEX cases_sla_risk_idx ON cases (sla_warn_at) INCLUDE (sla_due_at)
    WHERE sla_stopped_at IS NULL AND sla_breached_at IS NULL
      AND sla_paused_since IS NULL;
CREATE INDEX cases_sla_breached_open_idx ON cases (sla_due_at)
    WHERE sla_breached_at IS NOT NULL AND sla_stopped_at IS NULL;
-- Reports of decided cases by month.
CREATE INDEX cases_decided_idx ON cases (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX cases_breached_idx ON cases (sla_breached_at)
    WHERE sla_breached_at IS NOT NULL;

-- Pauses of a case's clock (awaiting_member; a reopen pauses the time the
-- clock stood still). to_at NULL: still paused. Deadlines are recomputed
-- from received_at and these rows.
CREATE TABLE sla_pauses (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id  bigint NOT NULL REFERENCES cases (id),
    from_at  timestamptz NOT NULL,
    to_at    timestamptz,
    CHECK (to_at IS NULL OR to_at >= from_at)
);
CREATE INDEX sla_pauses_case_idx ON sla_pauses (case_id, from_at);
CREATE UNIQUE INDEX sla_pauses_open_key ON sla_pauses (case_id) WHERE to_at IS NULL;

-- The SLA policy and calendar the stored deadlines were computed with (a
-- fingerprint of the effective settings): an engine that loads different
-- settings recomputes the open cases and records its own.
CREATE TABLE sla_settings (
    id            smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    fingerprint   text NOT NULL,
    summary       text NOT NULL DEFAULT '',
    recomputed_at timestamptz NOT NULL
);

ALTER TABLE holidays ADD COLUMN added_at timestamptz;

-- sla_state - where a case stands against its promise at instant AT:
-- on_track, at_risk, paused, breached while open; met or missed once decided
-- (or, for an inquiry, resolved); withdrawn.
CREATE FUNCTION sla_state(c cases, at timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN c.sla_stopped_at IS NOT NULL AND c.sla_stopped_at <= at THEN
            CASE WHEN c.decided_at IS NULL AND c.resolved_at IS NULL
                      AND c.status = 'withdrawn' THEN 'withdrawn'
                 WHEN c.sla_stopped_at <= c.sla_due_at THEN 'met'
                 ELSE 'missed' END
        WHEN c.sla_breached_at IS NOT NULL AND c.sla_breached_at <= at
            THEN 'breached'
        WHEN c.sla_paused_since IS NOT NULL AND c.sla_paused_since <= at
            THEN 'paused'
        WHEN c.sla_due_at <= at THEN 'breached'
        WHEN c.sla_warn_at IS NOT NULL AND c.sla_warn_at <= at THEN 'at_risk'
        ELSE 'on_track'
    END $$;

-- The cases the reports read: the case with its assignee's username.
CREATE VIEW sla_cases AS
    SELECT c.id, c.ref, c.status, c.channel, c.kind, c.category, c.subject,
           s.username AS assignee, c.received_at, c.sla_due_at, c.sla_warn_at,
           c.sla_paused_since, c.sla_paused_total, c.sla_breached_at,
           c.sla_stopped_at, c.decided_at, c.decision, c.resolved_at,
           c.first_response_at, c.first_response_minutes, c.decision_minutes,
           c.decision_margin_minutes, c
    FROM cases c LEFT JOIN staff s ON s.id = c.assignee;

-- sla_open_report - the cases open at AT (received by then, clock not yet
-- stopped by then) with their state, due time and time remaining.
CREATE FUNCTION sla_open_report(at timestamptz)
    RETURNS TABLE (ref text, status text, channel text, category text,
                   assignee text, received_at timestamptz,
                   sla_due_at timestamptz, remaining interval,
                   sla_state text)
    LANGUAGE sql STABLE AS $$
    SELECT v.ref, v.status, v.channel, v.category, v.assignee, v.received_at,
           v.sla_due_at, v.sla_due_at - at, sla_state(v.c, at)
    FROM sla_cases v
    WHERE v.received_at <= at
      AND (v.sla_stopped_at IS NULL OR v.sla_stopped_at > at)
      AND v.status <> 'withdrawn'
    ORDER BY v.sla_due_at, v.ref $$;

-- sla_compliance - decided cases (decided by AT) grouped by DIM (month,
-- channel or assignee): how many, the share decided within the target, the
-- median and 90th percentile of the time to decision (policy minutes).
CREATE FUNCTION sla_compliance(dim text, at timestamptz)
    RETURNS TABLE (grp text, decided bigint, within_target bigint,
                   share numeric, median_minutes double precision,
                   p90_minutes double precision)
    LANGUAGE sql STABLE AS $$
    SELECT CASE dim
               WHEN 'month' THEN to_char(v.decided_at, 'YYYY-MM')
               WHEN 'channel' THEN v.channel
               ELSE coalesce(v.assignee, '(nobody)') END AS grp,
           count(*),
           count(*) FILTER (WHERE v.decided_at <= v.sla_due_at),
           round(count(*) FILTER (WHERE v.decided_at <= v.sla_due_at)::numeric
                 / count(*), 3),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY v.decision_minutes),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY v.decision_minutes)
    FROM sla_cases v
    WHERE v.decided_at IS NOT NULL AND v.decided_at <= at
    GROUP BY 1 ORDER BY 1 $$;

-- sla_open_counts - the open cases by state now (AT: the caller's clock),
-- from the partial indexes: on_track, at_risk, paused, breached.
CREATE FUNCTION sla_open_counts(at timestamptz)
    RETURNS TABLE (sla_state text, n bigint)
    LANGUAGE sql STABLE AS $$
    WITH due AS (
        SELECT count(*) FILTER (WHERE sla_due_at <= at) AS past,
               count(*) FILTER (WHERE sla_due_at > at) AS ahead
        FROM cases WHERE sla_breached_at IS NULL AND sla_stopped_at IS NULL
          AND sla_paused_since IS NULL),
    risk AS (
        SELECT count(*) AS n FROM cases
        WHERE sla_breached_at IS NULL AND sla_stopped_at IS NULL
          AND sla_paused_since IS NULL AND sla_warn_at <= at
          AND sla_due_at > at)
    SELECT 'breached', (SELECT count(*) FROM cases
                        WHERE sla_breached_at IS NOT NULL
                          AND sla_stopped_at IS NULL) + (SELECT past FROM due)
    UNION ALL
    SELECT 'paused', (SELECT count(*) FROM cases
                      WHERE sla_paused_since IS NOT NULL
                        AND sla_stopped_at IS NULL AND sla_breached_at IS NULL)
    UNION ALL SELECT 'at_risk', (SELECT n FROM risk)
    UNION ALL SELECT 'on_track', (SELECT ahead FROM due) - (SELECT n FROM risk)
    $$;

-- sla_open_list - the first LIM open cases of each state by due time now
-- (LIM NULL: all), with the same columns as sla_open_report.
CREATE FUNCTION sla_open_list(at timestamptz, lim integer)
    RETURNS TABLE (ref text, status text, channel text, category text,
                   assignee text, received_at timestamptz,
                   sla_due_at timestamptz, remaining interval,
                   sla_state text)
    LANGUAGE sql STABLE AS $$
    WITH pick AS (
        (SELECT id, 'breached' AS st FROM cases
         WHERE sla_breached_at IS NOT NULL AND sla_stopped_at IS NULL
         ORDER BY sla_due_at LIMIT lim)
        UNION ALL
        (SELECT id, 'breached' FROM cases
         WHERE sla_breached_at IS NULL AND sla_stopped_at IS NULL
           AND sla_paused_since IS NULL AND sla_due_at <= at
         ORDER BY sla_due_at LIMIT lim)
        UNION ALL
        (SELECT id, 'paused' FROM cases
         WHERE sla_paused_since IS NOT NULL AND sla_stopped_at IS NULL
           AND sla_breached_at IS NULL
         ORDER BY sla_due_at LIMIT lim)
        UNION ALL
        (SELECT id, 'at_risk' FROM cases
         WHERE sla_breached_at IS NULL AND sla_stopped_at IS NULL
           AND sla_paused_since IS NULL AND sla_warn_at <= at
           AND sla_due_at > at
         ORDER BY sla_due_at LIMIT lim)
        UNION ALL
        (SELECT id, 'on_track' FROM cases
         WHERE sla_breached_at IS NULL AND sla_stopped_at IS NULL
           AND sla_paused_since IS NULL AND sla_due_at > at
           AND (sla_warn_at IS NULL OR sla_warn_at > at)
         ORDER BY sla_due_at LIMIT lim))
    SELECT c.ref, c.status, c.channel, c.category, s.username, c.received_at,
           c.sla_due_at, c.sla_due_at - at, p.st
    FROM pick p JOIN cases c ON c.id = p.id
    LEFT JOIN staff s ON s.id = c.assignee
    WHERE c.status <> 'withdrawn'
    $$;
