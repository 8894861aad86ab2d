"""API for metrics; routes join /api/ under the api namespace."""

urlpatterns: list = []
