-- 0006 web: what the member portal may read (DESIGN.md "Shape": reads go to
-- views, never to the engine).
--
-- member_cases is one row per case with only what its member may see, and
-- the two addresses a member may prove themselves with (the register's and
-- the one they gave). member_case_events is the member-visible timeline:
-- the case's creation and its status changes, whatever op made them - never
-- notes, assignments, SLA events or any detail text, which may be staff's.

SET LOCAL search_path = tawasul;

CREATE VIEW member_cases AS
SELECT c.id, c.ref, c.intake_key, c.verified, c.status, c.kind, c.category, c.subject,
       c.channel, c.received_at, c.sla_due_at, c.decided_at, c.decision,
       c.closed_at,
       m.email AS member_email,
       c.contact->>'email' AS contact_email,
       c.contact->>'number' AS contact_number,
       EXISTS (SELECT 1 FROM surveys s
               WHERE s.case_id = c.id AND s.answered_at IS NOT NULL)
           AS survey_answered
FROM cases c
LEFT JOIN members m ON m.id = c.member_id;

CREATE VIEW member_case_events AS
SELECT c.ref, e.case_id, e.id, e.at,
       CASE WHEN e.kind = 'created' THEN 'new' ELSE e.to_status END AS status
FROM case_events e
JOIN cases c ON c.id = e.case_id
WHERE e.kind = 'created'
   OR (e.to_status IS NOT NULL AND e.from_status IS DISTINCT FROM e.to_status);
