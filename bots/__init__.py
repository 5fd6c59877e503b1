"""Chat channels. Each folder translates one platform to services/conversations.py and back."""
