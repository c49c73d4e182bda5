"""The complaints service's pages for people: the staff console (``console.py``)."""
