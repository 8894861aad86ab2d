"""The deal side of the REST API: accounts, contacts, deals, their actions and their plan.

Every write calls the same deals.services functions as the pages; serializers only check shapes and
types, and the services decide what is allowed."""
