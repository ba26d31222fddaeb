"""The ledger's revisions, one module each, applied in order by ``pregonero db upgrade``
(and automatically by ``run``/``worker``/``serve`` on an embedded SQLite ledger).

``0001_baseline`` is the schema the first release wrote with ``metadata.create_all``; a
ledger from that release (tables, no ``alembic_version``) is stamped at it, then upgraded.
Never edit a revision that has shipped: add a new one.

To change the schema:

1. Change ``dispatcher/ledger/schema.py`` (the metadata stays the description of head: a
   fresh ledger is created from it with ``create_all`` and stamped at head).
2. Write the revision: ``python -m dispatcher.ledger.migrate revision "add x to items"``
   autogenerates ``NNNN_<slug>.py`` here (numbered after the current head) by comparing
   ``schema.py`` with a scratch SQLite ledger at head. Read it and fix it by hand: it
   renders ``op.batch_alter_table`` blocks, which SQLite needs (copy and move) and
   PostgreSQL runs as plain ``ALTER TABLE``; give new NOT NULL columns a ``server_default``
   (or fill them first) so existing rows are valid; write ``downgrade()`` too.
3. Run ``pytest tests/test_migrations.py``: ``test_schema_matches_migrations`` fails while
   ``schema.py`` and the migrated database differ (on SQLite and PostgreSQL), and the
   round-1 ledgers in ``tests/fixtures`` must still upgrade with their rows intact.
"""
