"""Accounts and contacts: lists, pages, create and edit."""

from django.urls import path

from deals import views_people as views

urlpatterns = [
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/new/", views.account_create_view, name="account_create"),
    path("accounts/<int:account_id>/", views.account_detail, name="account_detail"),
    path("accounts/<int:account_id>/edit/", views.account_update_view, name="account_update"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_create_view, name="contact_create"),
    path("contacts/accounts/", views.contact_account_options, name="contact_account_options"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:contact_id>/edit/", views.contact_update_view, name="contact_update"),
]
