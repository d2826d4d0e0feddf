//! # Plugin UI
//!
//! A plugin's pages are its templates (Jinja, rendered by the host) inside the portal's layout. The host treats
//! that markup as untrusted, like a browser treats a web page from another site: **no plugin script ever runs on
//! the portal's origin**. What a plugin gets instead covers what portal pages need (forms, live lookups, refreshing
//! regions, confirmations, dependent fields) without a line of JavaScript; custom client code, where it is truly
//! needed, runs in a sandboxed frame.
//!
//! ## What markup may do
//!
//! The host renders your template in its sandboxed renderer and then sanitizes the result. What survives:
//!
//! - text and structure: headings, paragraphs, lists, tables, `details`, `figure`, `time`, …;
//! - `class`, `id`, `title`, `lang`, `role`, `hidden`, `tabindex`, every `aria-*` and `data-*` attribute;
//! - links to anywhere (`http`, `https`, `mailto`, `tel`, relative paths), never `javascript:` or `data:`;
//! - images from the portal (`/plugin-static/{id}/…`, `/media/…`) or inline PNG, JPEG, GIF or WebP data;
//! - `<video>`, `<audio>` (with `<source>` and `<track>`) playing a `/files/…` link the plugin made
//!   (`files::serve_url`, which the host streams with seeking) or its own static file, with `controls` (0.1.2);
//! - forms that post (or get) to **your own routes** (`/p/{id}/…`), with the usual inputs, selects, text areas
//!   and buttons; every form gets `{{ csrf_token }}`, a token the host accepts on your routes only;
//! - stylesheets of your own package: `<link rel="stylesheet" href="/plugin-static/{id}/app.css">`.
//!
//! What is removed: `<script>` and every other way to run script (event handler attributes, SVG, MathML,
//! `<iframe>`, `<object>`, `<embed>`, `<base>`, `<meta>`), inline `style` attributes and `<style>` elements (put
//! styles in your stylesheet), and form actions or `formaction`s that point anywhere but your routes. The page's
//! Content-Security-Policy says the same again in the browser, so a sanitizer mistake is not enough to run script.
//!
//! A package's `static/` may hold styles (`.css`), raster images, fonts and SVG (served so that it cannot
//! script); a stylesheet's `url()`s may name only the package's own files, and `@import` is refused. A package
//! with scripts or HTML in `static/` is refused at install, with a message that says to use behaviours or
//! `frame/`.
//!
//! ## Behaviours: interactivity without JavaScript
//!
//! The host's behaviour script reads `data-pt-*` attributes on your markup. Every URL they name must be one of
//! your plugin's pages; anything else is ignored.
//!
//! | attribute | meaning |
//! |---|---|
//! | `data-pt-get="/p/{id}/path"` | fetch that page as a fragment (your view rendered without the portal layout) |
//! | `data-pt-target="#id"` | where the fragment goes (default: the element itself); an empty fragment hides it |
//! | `data-pt-trigger` | when: `input`, `change`, `click`, `load`, `every:10s`, with `delay:350ms` to wait for a pause |
//! | `data-pt-include="#form-id"` | whose fields go in the query (default: the element's form, or the element) |
//! | `data-pt-confirm="Delete it?"` | ask before a form submits or a link or button acts |
//! | `data-pt-frame="/plugin-frame/{id}/app.html"` | custom client code in a sandboxed frame (below) |
//!
//! A live lookup as the user types (deal registration's duplicate hint):
//!
//! ```text
//! <form method="post" action="/p/deal-registration/new"
//!       data-pt-get="/p/deal-registration/check" data-pt-target="#hint" data-pt-trigger="input delay:350ms load">
//!   <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
//!   <input name="customer_name">
//!   <div id="hint" role="status" aria-live="polite" hidden></div>
//! </form>
//! ```
//!
//! `/check` is an ordinary page route of the plugin that answers a small view; when the request carries the
//! fragment header, the host sends only that view, sanitized, and the script puts it into `#hint`.
//!
//! A region that refreshes itself (the guestbook example's notes), a confirmation, a dependent select:
//!
//! ```text
//! <div id="notes" data-pt-get="/p/guestbook/latest" data-pt-trigger="every:15s">{% include "latest.html" %}</div>
//!
//! <form method="post" action="/p/notes/42/delete" data-pt-confirm="Delete this note for everyone?">…</form>
//!
//! <select name="country" data-pt-get="/p/shop/regions" data-pt-target="#region" data-pt-trigger="change">…</select>
//! <div id="region"></div>
//! ```
//!
//! ## Charts
//!
//! Templates draw charts with `chart(…)` (`portico:plugin` 0.1.1): the host draws them as SVG after sanitizing
//! your markup, so they are the one SVG a plugin page shows, with no script. Kinds: `bar`, `stacked_bar`, `line`
//! and `area` (over `categories` or points in time, `times`, in milliseconds), `donut`, `funnel`, `gauge`
//! (`value` of `max`) and `sparkline`. Give `series=[{"name": …, "values": […]}]`, or `values=[…]` for one
//! unnamed series; `style` is `number` (default), `money` (with an ISO `currency`) or `percent`.
//!
//! ```text
//! {{ chart(kind="bar", title="Deals by status", categories=labels, values=counts) }}
//! {{ chart(kind="area", title="Pipeline", times=weeks, series=[{"name": "Won", "values": won},
//!          {"name": "Open", "values": open}], style="money", currency="EUR") }}
//! {{ chart(kind="gauge", title="Towards Gold", value=points, max=gold_at) }}
//! ```
//!
//! Every chart is a `<figure>` whose SVG has `role="img"`, the title and a description, followed by the numbers
//! as a table that screen readers reach; series colours come from the theme (`--chart-1` … `--chart-8`, the first
//! two the tenant's brand colours); numbers, money and dates follow the viewer's language (`Accept-Language`)
//! and time zone. Charts count against the page's output cap.
//!
//! ## Custom client code: the sandboxed frame
//!
//! Some features need real client code (a SCORM player, a rich editor). Put it under `frame/` in the package and
//! place it on a page with `data-pt-frame`:
//!
//! ```text
//! <div data-pt-frame="/plugin-frame/my-plugin/player.html" data-pt-frame-title="Course player"
//!      data-pt-frame-height="480"></div>
//! ```
//!
//! The host creates an `<iframe sandbox="allow-scripts allow-forms">` for it, and serves `frame/` files with a
//! Content-Security-Policy `sandbox` directive, so the code runs under an opaque origin even when the file is
//! opened on its own: it has no cookies, cannot read the portal's pages and cannot connect anywhere. It reaches
//! your plugin's JSON routes, and only those, through the host's bridge, with a short-lived token bound to your
//! plugin and the user's session:
//!
//! ```text
//! <!-- frame/player.html -->
//! <script src="/_portico/frame.js"></script>
//! <script>
//!   const { status, body } = await portico.request("POST", "/api/v1/p/my-plugin/progress", { lesson: 3 });
//!   portico.resize(); // fit the frame to the content
//! </script>
//! ```
//!
//! ## Files and redirects
//!
//! [`Response::File`](crate::Response::File) answers are downloads unless their type is one a browser cannot run
//! (PDF, images, plain text, CSV, office documents, audio, video); HTML, SVG, XML, scripts and unknown types are
//! always `attachment`, every file is sandboxed and `nosniff`, and the file name is sanitized.
//! [`Response::redirect`](crate::Response::redirect) takes a path on the portal (`/p/{id}/…`); anything a browser
//! could read as another site (`//host`, `/\host`, a scheme, control characters) fails the request with a 502.
