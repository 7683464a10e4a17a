"""The retrieval core: sources → passages → index → answer pipeline → answer.

It knows nothing of terminals, Discord or HTTP; the service layer and the front ends build on it.
"""
