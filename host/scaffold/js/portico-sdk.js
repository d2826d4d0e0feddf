/**
 * A small SDK over the bindings componentize-js generates from `wit/portico.wit`; `npm run types` writes their
 * TypeScript declarations to `types/`, which `jsconfig.json` shows your editor.
 *
 * The bindings follow the component model's JavaScript conventions: records cross the boundary as JSON text,
 * answers and errors are `{ tag, val }` objects, 64-bit numbers are BigInts, and a host call that fails throws an
 * error whose `payload` is the WIT error. These helpers take and give plain objects and name the answers a
 * plugin gives. Anything they leave out is one import away in `portico:plugin/…@__API_VERSION__`.
 *
 * @import { Error as WitError } from "portico:plugin/types@__API_VERSION__"
 * @import { Request, Response } from "portico:plugin/http-handler@__API_VERSION__"
 * @import { StoredRecord } from "portico:plugin/storage@__API_VERSION__"
 */

import { get as getSettings } from "portico:plugin/settings@__API_VERSION__";
import { insert, query } from "portico:plugin/storage@__API_VERSION__";

// Errors. Throw them from an entry point and the host answers with the matching status. An error thrown by a
// host call carries its WIT error the same way, so letting it through reports it as it is; anything else thrown
// (a bug) traps the invocation, which rolls it back.

/** An expected failure: `payload` is the WIT `error` variant the entry point returns. */
export class PluginError extends Error {
  /**
   * @param {WitError} payload
   * @param {string} message
   */
  constructor(payload, message) {
    super(message);
    this.name = "PluginError";
    this.payload = payload;
  }
}

/**
 * The thing asked for does not exist, or the caller may not see it (404).
 *
 * @param {string} message
 */
export const notFound = (message) => new PluginError({ tag: "not-found", val: message }, message);

/**
 * The caller may not do this (403).
 *
 * @param {string} message
 */
export const denied = (message) => new PluginError({ tag: "denied", val: message }, message);

/**
 * The input is wrong (422 with `field` named in the JSON error; `undefined` for the input as a whole).
 *
 * @param {string | undefined} field
 * @param {string} message
 */
export const invalid = (field, message) => new PluginError({ tag: "invalid", val: { field, message } }, message);

/**
 * Anything else: the host logs the message and shows the user a generic error (500).
 *
 * @param {string} message
 */
export const internal = (message) => new PluginError({ tag: "internal", val: message }, message);

// Requests.

/**
 * A submitted form's field, the first if it repeats.
 *
 * @param {Request} req
 * @param {string} name
 * @returns {string | undefined}
 */
export function field(req, name) {
  return req.form.find(([key]) => key === name)?.[1];
}

/**
 * The request's body as JSON; `undefined` when it is not JSON.
 *
 * @param {Request} req
 * @returns {any}
 */
export function jsonBody(req) {
  try {
    return JSON.parse(new TextDecoder().decode(req.body));
  } catch {
    return undefined;
  }
}

// Answers.

/**
 * A page: `templates/${template}` rendered with `context` inside the portal's layout.
 *
 * @param {string} template
 * @param {string} title
 * @param {object} context
 * @param {number} [status]
 * @returns {Response}
 */
export function page(template, title, context, status = 200) {
  return { tag: "page", val: { template, title, context: JSON.stringify(context), status } };
}

/**
 * A JSON answer.
 *
 * @param {number} status
 * @param {unknown} body
 * @returns {Response}
 */
export function jsonResponse(status, body) {
  return { tag: "json", val: [status, JSON.stringify(body)] };
}

/**
 * A redirect (303), the answer to a form that was accepted.
 *
 * @param {string} path
 * @returns {Response}
 */
export function redirect(path) {
  return { tag: "redirect", val: path };
}

// Settings and storage.

/**
 * The plugin's settings for the call's program, defaults filled in, as the manifest's `[[settings]]` name them.
 *
 * @returns {Record<string, any>}
 */
export function settings() {
  return JSON.parse(getSettings());
}

/**
 * A stored record with its data decoded and its numbers as plain numbers (milliseconds fit in a double).
 *
 * @typedef {object} Stored
 * @property {string} id
 * @property {number} revision
 * @property {string | undefined} orgId
 * @property {any} data
 * @property {number} createdAt
 * @property {number} updatedAt
 */

/** A collection the manifest declares under `grants.collections`; the host scopes it to the caller's organisation. */
export class Collection {
  /** @param {string} name */
  constructor(name) {
    this.name = name;
  }

  /**
   * Stores a new record (for the caller's organisation, or vendor-wide for vendor staff) under a new id.
   *
   * @param {object} data
   * @returns {Stored}
   */
  insert(data) {
    return stored(insert(this.name, undefined, undefined, JSON.stringify(data)));
  }

  /**
   * The `limit` records with the largest `orderBy`, largest first; `orderBy` must be an indexed field.
   *
   * @param {string} orderBy
   * @param {number} limit
   * @returns {Stored[]}
   */
  latest(orderBy, limit) {
    const page = query({
      collection: this.name,
      filters: [],
      orderBy: [orderBy, "desc"],
      limit,
      cursor: undefined,
      visibility: "caller-org",
    });
    return page.records.map(stored);
  }
}

/**
 * @param {StoredRecord} r
 * @returns {Stored}
 */
function stored(r) {
  return {
    id: r.id,
    revision: Number(r.revision),
    orgId: r.orgId,
    data: JSON.parse(r.data),
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
  };
}

// Entry points with nothing to do. The component exports each WIT interface under its camel-cased name from the
// app module: re-export these there, and export your own object under the same name to do more.

/**
 * Takes every event without doing anything.
 *
 * @type {typeof import("portico:plugin/event-handler@__API_VERSION__")}
 */
export const eventHandler = { onEvent() {} };

/**
 * Runs no schedule.
 *
 * @type {typeof import("portico:plugin/scheduler@__API_VERSION__")}
 */
export const scheduler = { run() {} };

/**
 * Has no widgets.
 *
 * @type {typeof import("portico:plugin/widgets@__API_VERSION__")}
 */
export const widgets = {
  render(_ctx, widget) {
    throw notFound(`no widget ${widget}`);
  },
};

/**
 * Has no data to migrate.
 *
 * @type {typeof import("portico:plugin/lifecycle@__API_VERSION__")}
 */
export const lifecycle = { migrate() {} };

/**
 * Has no partner cards.
 *
 * @type {typeof import("portico:plugin/partner-cards@__API_VERSION__")}
 */
export const partnerCards = {
  renderCard(_ctx, card) {
    throw notFound(`no card ${card}`);
  },
};

/**
 * Suggests nothing.
 *
 * @type {typeof import("portico:plugin/next-steps@__API_VERSION__")}
 */
export const nextSteps = {
  steps() {
    return [];
  },
};
