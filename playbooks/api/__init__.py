"""The playbooks pillar over the REST API: playbooks, plays and their content (ops and admins write,
every member reads), a play's deals, evaluation runs and effectiveness, a deal's attached plays and the
answers to their questions, and the preview of a condition. Writes go through `playbooks.services`;
routes are in `playbooks.api.urls` (included under /api/)."""
