"""The way in, under the global names Django and allauth reverse: login, logout, the code
step (allauth's view, our template and form), and the OpenID Connect login and callback."""

from __future__ import annotations

from allauth.mfa.base import views as mfa_views
from django.contrib.auth import views as auth_views
from django.urls import path

from signin import oidc, views

urlpatterns = [
    path("login/", views.login, name="login"),
    path("login/", views.login, name="account_login"),  # allauth sends people back here
    path("login/code/", mfa_views.authenticate, name="mfa_authenticate"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("sso/<str:provider_id>/login/", oidc.login, name="openid_connect_login"),
    path("sso/<str:provider_id>/login/callback/", oidc.callback, name="openid_connect_callback"),
    # Where allauth would show its own pages, the login page says what happened instead.
    path("login/sso/cancelled/", oidc.back_to_login, name="socialaccount_login_cancelled"),
    path("login/sso/error/", oidc.back_to_login, name="socialaccount_login_error"),
    path("login/sso/signup/", oidc.back_to_login, name="socialaccount_signup"),
    path("login/inactive/", oidc.back_to_login, name="account_inactive"),
]
