"""Pages of plays on deals: the deal page's plays section and a play's page."""

urlpatterns: list = []
