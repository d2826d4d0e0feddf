"""__PLUGIN_TITLE__: partners leave notes for the vendor's team, on a page with a form and through a JSON API."""

import notes
from portico_sdk import (
    CallContext,
    Collection,
    EventHandler,
    JsonObject,
    Lifecycle,
    NextSteps,
    PartnerCards,
    Scheduler,
    Widgets,
    denied,
    field,
    invalid,
    json_body,
    json_response,
    not_found,
    page,
    redirect,
    settings,
)
from wit_world.exports import http_handler

# The entry points this plugin leaves as they are; componentize-py finds them here by name.
__all__ = ["HttpHandler", "EventHandler", "Scheduler", "Widgets", "Lifecycle", "PartnerCards", "NextSteps"]

TITLE = "__PLUGIN_TITLE__"
HOME = "/p/__PLUGIN_ID__/"
NOTES = Collection("notes")
LATEST = 20


class HttpHandler:
    """The page at /p/__PLUGIN_ID__/ and the JSON API at /api/v1/p/__PLUGIN_ID__/notes."""

    def handle(self, ctx: CallContext, req: http_handler.Request) -> http_handler.Response:
        match (req.method, req.path, req.api):
            case ("GET", "/", False):
                return notes_page(text="")
            case ("POST", "/", False):
                text = field(req, "text") or ""
                try:
                    add_note(ctx, text)
                except notes.InvalidNote as refused:
                    return notes_page(text=text, error=str(refused), status=422)
                return redirect(HOME)
            case ("GET", "/notes", True):
                return json_response(200, {"notes": latest()})
            case ("POST", "/notes", True):
                body = json_body(req)
                try:
                    note = add_note(ctx, body.get("text") if isinstance(body, dict) else None)
                except notes.InvalidNote as refused:
                    raise invalid("text", str(refused)) from None
                return json_response(201, note)
        raise not_found("no such page")


def notes_page(text: str, error: str | None = None, status: int = 200) -> http_handler.Response:
    context = {"greeting": settings()["greeting"], "notes": latest(), "text": text}
    if error:
        context["error"] = error
    return page("index.html", TITLE, context, status)


def latest() -> list[JsonObject]:
    return [notes.summary(r.id, r.data) for r in NOTES.latest("created_ms", LATEST)]


def add_note(ctx: CallContext, text: object) -> JsonObject:
    """Stores a note by the caller; raises `notes.InvalidNote` when the text breaks the rules."""
    if ctx.caller is None:
        raise denied("sign in first")
    note = {
        "text": notes.check_text(text),
        "author": ctx.caller.name,
        "author_id": ctx.caller.user_id,
        "created_ms": ctx.now_ms,
    }
    return notes.summary(NOTES.insert(note).id, note)
