"""newsbot: ask questions of news articles, get back verbatim quoted passages with their sources."""

__version__ = "0.1.0"
