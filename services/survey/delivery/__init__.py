"""Invitation emails: what they say (``email``) and how they are sent, after commit (``worker``)."""
