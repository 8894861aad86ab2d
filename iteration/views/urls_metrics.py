"""Pages for metrics."""

urlpatterns: list = []
