"""A real OpenID Connect provider for the sign-in tests (django-oauth-toolkit's OIDC support).

Run by tests/signin/conftest.py as its own process (`python -m tests.oidc_provider.serve`) with
its own settings, SQLite file and RSA key in a temporary folder. Tests steer it through
control.json in that folder: who is signed in at the provider, and a "mode" that makes it
misbehave (wrong nonce, expired token, another audience, a bad signature, a broken discovery
document).
"""
