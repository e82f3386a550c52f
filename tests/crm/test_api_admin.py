from __future__ import annotations

import pytest

from crm import audit
from tests.factories import UserFactory, make_token

pytestmark = pytest.mark.django_db


def auth(user, scopes=("read:all",)):
    return {"Authorization": f"Bearer {make_token(user, list(scopes))}"}


def test_a_manager_lists_their_subtree_users_only(client, manager, rep, other_rep):
    response = client.get("/api/v1/users/", headers=auth(manager))
    assert response.status_code == 200
    assert {u["username"] for u in response.json()["results"]} == {
        manager.username,
        rep.username,
    }
    assert client.get(f"/api/v1/users/{other_rep.pk}/", headers=auth(manager)).status_code == 404


def test_users_api_queries_stay_flat(client, admin_user, org, django_assert_max_num_queries):
    headers = auth(admin_user)
    for size in (3, 40):
        UserFactory.create_batch(size, team=org["team_a"])
        with django_assert_max_num_queries(6):
            assert client.get("/api/v1/users/?page_size=500", headers=headers).status_code == 200


def test_teams_api_shows_managed_teams_and_own_team(client, manager, rep, org):
    names = {
        t["name"] for t in client.get("/api/v1/teams/", headers=auth(manager)).json()["results"]
    }
    assert names == {"Team A"}
    names = {t["name"] for t in client.get("/api/v1/teams/", headers=auth(rep)).json()["results"]}
    assert names == {"Team A"}


def test_audit_api_is_admin_only_and_filters(
    client, admin_user, rep, django_assert_max_num_queries
):
    audit.record(actor=rep, action="user.profile", target=rep)
    audit.record(actor=admin_user, action="user.update", target=rep)
    headers = auth(admin_user)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/audit/?action=user.profile", headers=headers)
    assert [e["actor"] for e in response.json()["results"]] == [rep.username]
    assert client.get("/api/v1/audit/", headers=auth(rep)).status_code == 403


@pytest.mark.parametrize("query", ["page_size=abc", "page_size=0", "role=", "action="])
def test_malformed_list_parameters_are_400_naming_the_parameter(client, admin_user, query):
    path = "/api/v1/audit/" if "action" in query else "/api/v1/users/"
    response = client.get(f"{path}?{query}", headers=auth(admin_user))
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_unknown_api_urls_answer_json_404(client, admin_user):
    response = client.get("/api/v1/teams/0.5/", headers=auth(admin_user))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_schema_documents_the_shared_error_answers(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/?format=json").json()
    responses = schema["paths"]["/api/v1/users/"]["get"]["responses"]
    assert {"400", "401", "403", "404", "429"} <= set(responses)
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
