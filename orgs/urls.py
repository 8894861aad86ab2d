"""Sign-in and password pages, the home redirect, the organization switcher and the members page."""

from django.contrib.auth import views as auth_views
from django.urls import path

from orgs import views
from orgs.forms import (
    EmailAuthenticationForm,
    StyledPasswordChangeForm,
    StyledPasswordResetForm,
    StyledSetPasswordForm,
)

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(form_class=StyledPasswordChangeForm),
        name="password_change",
    ),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(form_class=StyledPasswordResetForm),
        name="password_reset",
    ),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    # The set-password link of an invitation (orgs.services.set_password_link) lands here too.
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(form_class=StyledSetPasswordForm),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("org/switch/", views.org_switch, name="org_switch"),
    path("members/", views.member_list, name="member_list"),
    path("members/invite/", views.member_invite_view, name="member_invite"),
    path("members/<int:membership_id>/", views.member_row, name="member_row"),
    path("members/<int:membership_id>/edit/", views.member_edit, name="member_edit"),
]
