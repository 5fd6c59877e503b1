"""Request/response models (pydantic): XCreate / XUpdate / XPublic, shared by API and services."""
