"""fraud app."""
