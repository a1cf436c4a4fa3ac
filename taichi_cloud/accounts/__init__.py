"""Accounts, roles, sessions, API tokens and CSRF protection."""
