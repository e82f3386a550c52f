"""`python -m tests.oidc_provider.serve --port N --dir D`: key, database, client, then serve."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from jwcrypto import jwk

CLIENT_ID = "plumb-test-client"
CLIENT_SECRET = "plumb-test-secret"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    folder = Path(args.dir)
    key = folder / "key.pem"
    if not key.exists():  # an RSA key made for this test run
        key.write_bytes(
            jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None)
        )
    os.environ["OIDC_PROVIDER_DIR"] = str(folder)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.servers.basehttp import WSGIServer, run
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    Application.objects.update_or_create(
        client_id=CLIENT_ID,
        defaults={
            "name": "Plumb (tests)",
            "client_secret": CLIENT_SECRET,
            "hash_client_secret": False,
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "algorithm": Application.RS256_ALGORITHM,
            "redirect_uris": "http://testserver/",
            "skip_authorization": True,
        },
    )
    run("127.0.0.1", args.port, get_wsgi_application(), threading=True, server_cls=WSGIServer)


if __name__ == "__main__":
    main()
