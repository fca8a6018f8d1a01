"""ledger app."""
