"""A small SDK over the bindings componentize-py generates from `wit/portico.wit`.

The bindings are typed but wordy: records cross the boundary as JSON text, answers and errors are tagged
dataclasses. These helpers take and give dicts, and name the answers a plugin gives. Anything they leave out is
one import away in `wit_world.imports`.
"""

import json
from dataclasses import dataclass
from typing import Any, Optional

from componentize_py_types import Err
from wit_world.exports import http_handler, next_steps
from wit_world.imports import events, storage
from wit_world.imports import settings as wit_settings
from wit_world.imports.types import (
    CallContext,
    Caller,
    Error,
    Error_Denied,
    Error_Internal,
    Error_Invalid,
    Error_NotFound,
    FieldError,
)

__all__ = [
    "CallContext",
    "Caller",
    "Collection",
    "JsonObject",
    "Record",
    "denied",
    "field",
    "internal",
    "invalid",
    "json_body",
    "json_response",
    "not_found",
    "page",
    "redirect",
    "settings",
    "EventHandler",
    "Scheduler",
    "Widgets",
    "Lifecycle",
    "PartnerCards",
    "NextSteps",
]


JsonObject = dict[str, Any]
"""A JSON object, as records, settings and view contexts are."""

# Errors: raise them from an entry point and the host answers with the matching status.


def not_found(message: str) -> Err[Error]:
    """The thing asked for does not exist, or the caller may not see it (404)."""
    return Err(Error_NotFound(message))


def denied(message: str) -> Err[Error]:
    """The caller may not do this (403)."""
    return Err(Error_Denied(message))


def invalid(field_name: Optional[str], message: str) -> Err[Error]:
    """The input is wrong (422 with `field` named in the JSON error)."""
    return Err(Error_Invalid(FieldError(field=field_name, message=message)))


def internal(message: str) -> Err[Error]:
    """Anything else: the host logs the message and shows the user a generic error (500)."""
    return Err(Error_Internal(message))


# Requests.


def field(req: http_handler.Request, name: str) -> Optional[str]:
    """A submitted form's field, the first if it repeats."""
    return next((value for key, value in req.form if key == name), None)


def json_body(req: http_handler.Request) -> Any:
    """The request's body as JSON; `None` when it is not JSON."""
    try:
        return json.loads(req.body)
    except ValueError:
        return None


# Answers.


def page(template: str, title: str, context: JsonObject, status: int = 200) -> http_handler.Response:
    """A page: `templates/{template}` rendered with `context` inside the portal's layout."""
    view = http_handler.View(template=template, title=title, context=json.dumps(context), status=status)
    return http_handler.Response_Page(view)


def json_response(status: int, body: Any) -> http_handler.Response:
    """A JSON answer."""
    return http_handler.Response_Json((status, json.dumps(body)))


def redirect(path: str) -> http_handler.Response:
    """A redirect (303), the answer to a form that was accepted."""
    return http_handler.Response_Redirect(path)


# Settings and storage.


def settings() -> JsonObject:
    """The plugin's settings for the call's program, defaults filled in, as the manifest's `[[settings]]` name them."""
    values: JsonObject = json.loads(wit_settings.get())
    return values


@dataclass
class Record:
    """A stored record with its data decoded."""

    id: str
    revision: int
    org_id: Optional[str]
    data: JsonObject
    created_at: int
    updated_at: int

    @staticmethod
    def _from_wit(r: storage.StoredRecord) -> "Record":
        return Record(r.id, r.revision, r.org_id, json.loads(r.data), r.created_at, r.updated_at)


class Collection:
    """A collection the manifest declares under `grants.collections`; the host scopes it to the caller's organisation."""

    def __init__(self, name: str) -> None:
        self.name = name

    def insert(self, data: JsonObject) -> Record:
        """Stores a new record (for the caller's organisation, or vendor-wide for vendor staff) under a new id."""
        return Record._from_wit(storage.insert(self.name, None, None, json.dumps(data)))

    def latest(self, order_by: str, limit: int) -> list[Record]:
        """The `limit` records with the largest `order_by`, largest first; `order_by` must be an indexed field."""
        spec = storage.QuerySpec(
            collection=self.name,
            filters=[],
            order_by=(order_by, storage.Direction.DESC),
            limit=limit,
            cursor=None,
            visibility=storage.Visibility.CALLER_ORG,
        )
        return [Record._from_wit(r) for r in storage.query(spec).records]


# Entry points with nothing to do. componentize-py looks each exported interface up by its class name in the app
# module: import these there, and define your own class under the same name to do more.


class EventHandler:
    """Takes every event without doing anything."""

    def on_event(self, ctx: CallContext, ev: events.Event) -> None:
        pass


class Scheduler:
    """Runs no schedule."""

    def run(self, ctx: CallContext, schedule: str) -> None:
        pass


class Widgets:
    """Has no widgets."""

    def render(self, ctx: CallContext, widget: str) -> http_handler.View:
        raise not_found(f"no widget {widget}")


class Lifecycle:
    """Has no data to migrate."""

    def migrate(self, ctx: CallContext, from_version: str) -> None:
        pass


class PartnerCards:
    """Has no partner cards."""

    def render_card(self, ctx: CallContext, card: str, org_id: str) -> http_handler.View:
        raise not_found(f"no card {card}")


class NextSteps:
    """Suggests nothing."""

    def steps(self, ctx: CallContext) -> list[next_steps.Step]:
        return []
