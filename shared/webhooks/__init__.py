"""Webhooks: HTTP endpoints that receive a service's events, signed per Standard Webhooks.

``policy`` decides where deliveries may go, ``signing`` makes the signature headers and
``sender`` makes one delivery attempt to an address the policy checked.
"""
