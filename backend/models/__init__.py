"""SQLModel tables, one module per aggregate. Importing this package registers every table."""

from backend.models.areas import Area
from backend.models.calendar import CalendarOverride
from backend.models.categories import Category, Priority
from backend.models.clients import ApiClient, ExternalUpdate
from backend.models.conversations import ChannelToken, Conversation, InboundMessage
from backend.models.deliveries import PAID_TIERS, Delivery, SendState, Tier
from backend.models.idempotency import IdempotencyKey
from backend.models.outbox import Outbox
from backend.models.photos import Photo, PhotoRole, PhotoState
from backend.models.reports import (
    CLOSED_STATES,
    OPEN_STATES,
    ActorKind,
    Channel,
    EventKind,
    Follower,
    Report,
    ReportEvent,
    State,
)
from backend.models.residents import Device, Identity, Resident
from backend.models.routing import RoutingRule
from backend.models.settings import CitySetting
from backend.models.staff import LoginThrottle, Role, SavedView, Staff, StaffAudit
from backend.models.templates import ReplyTemplate
from backend.models.units import Unit, UnitKind

__all__ = [
    "CLOSED_STATES", "OPEN_STATES", "PAID_TIERS", "ActorKind", "ApiClient", "Area", "CalendarOverride", "Category",
    "Channel", "ChannelToken", "CitySetting", "Conversation", "Delivery", "Device", "EventKind",
    "ExternalUpdate", "Follower", "IdempotencyKey", "Identity", "InboundMessage", "LoginThrottle", "Outbox", "Photo",
    "PhotoRole", "PhotoState", "Priority", "ReplyTemplate", "Report", "ReportEvent", "Resident", "Role",
    "RoutingRule", "SavedView", "SendState", "Staff", "StaffAudit", "State", "Tier", "Unit", "UnitKind",
]
