"""Pages of the playbook editor (ops and admins)."""

urlpatterns: list = []
