"""The command line (``python -m bot`` / ``newsbot``) and its terminal rendering."""
