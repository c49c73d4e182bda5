"""The registry's pages: the staff console under ``/registry/console/`` (``console.py``)."""
