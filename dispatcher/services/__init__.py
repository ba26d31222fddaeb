"""The core's services: intake and its recording (``intake``, ``ingest``), delivery (jobs,
runners, the arq queue, recovery), the schedule, mailing, approvals, status and reports.
They work on the ``App`` context (``context``) and reach the database only through
``dispatcher.ledger``."""
