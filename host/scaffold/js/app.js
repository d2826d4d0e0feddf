/**
 * __PLUGIN_TITLE__: partners leave notes for the vendor's team, on a page with a form and through a JSON API.
 *
 * @import { CallContext } from "portico:plugin/types@__API_VERSION__"
 */

import { InvalidNote, checkText, summary } from "./notes.js";
import {
  Collection,
  denied,
  field,
  invalid,
  jsonBody,
  jsonResponse,
  notFound,
  page,
  redirect,
  settings,
} from "./portico-sdk.js";

// The entry points this plugin leaves as they are.
export { eventHandler, lifecycle, nextSteps, partnerCards, scheduler, widgets } from "./portico-sdk.js";

const TITLE = "__PLUGIN_TITLE__";
const HOME = "/p/__PLUGIN_ID__/";
const NOTES = new Collection("notes");
const LATEST = 20;

/**
 * The page at /p/__PLUGIN_ID__/ and the JSON API at /api/v1/p/__PLUGIN_ID__/notes.
 *
 * @type {typeof import("portico:plugin/http-handler@__API_VERSION__")}
 */
export const httpHandler = {
  handle(ctx, req) {
    const route = `${req.method} ${req.api ? "/api" : ""}${req.path}`;
    switch (route) {
      case "GET /":
        return notesPage({ text: "" });
      case "POST /": {
        const text = field(req, "text") ?? "";
        try {
          addNote(ctx, text);
        } catch (e) {
          if (!(e instanceof InvalidNote)) throw e;
          return notesPage({ text, error: e.message, status: 422 });
        }
        return redirect(HOME);
      }
      case "GET /api/notes":
        return jsonResponse(200, { notes: latest() });
      case "POST /api/notes": {
        try {
          return jsonResponse(201, addNote(ctx, jsonBody(req)?.text));
        } catch (e) {
          if (!(e instanceof InvalidNote)) throw e;
          throw invalid("text", e.message);
        }
      }
      default:
        throw notFound("no such page");
    }
  },
};

/**
 * The page with the form, the latest notes and, after a refused note, what was wrong with it.
 *
 * @param {{ text: string, error?: string, status?: number }} form
 */
function notesPage({ text, error, status = 200 }) {
  return page("index.html", TITLE, { greeting: settings().greeting, notes: latest(), text, error }, status);
}

function latest() {
  return NOTES.latest("created_ms", LATEST).map((r) => summary(r.id, r.data));
}

/**
 * Stores a note by the caller; throws `InvalidNote` when the text breaks the rules.
 *
 * @param {CallContext} ctx
 * @param {unknown} text
 */
function addNote(ctx, text) {
  if (!ctx.caller) throw denied("sign in first");
  const note = {
    text: checkText(text),
    author: ctx.caller.name,
    author_id: ctx.caller.userId,
    created_ms: Number(ctx.nowMs),
  };
  return summary(NOTES.insert(note).id, note);
}
