"""FastAPI backend: users in Django's ``auth_user``, token login, contexts with entries and members."""
