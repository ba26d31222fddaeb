"""The ledger's Alembic migrations, shipped inside the package and configured in code by
:mod:`dispatcher.ledger.migrate` (no ``alembic.ini``). ``env.py`` runs them on the
connection the ledger hands it; ``versions/`` holds one module per revision."""
