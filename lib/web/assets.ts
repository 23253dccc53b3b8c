/**
 * The web client's files, embedded in the program by text imports so that
 * `deno compile` carries them and nothing is read from disk at run time.
 * `app.min.js` is built from web/ by `deno task web` and committed.
 *
 * @module
 */

import html from "./index.html" with { type: "text" };
import css from "./app.css" with { type: "text" };
import js from "./app.min.js" with { type: "text" };

/** The page, its script and its style sheet. */
export const WEB_ASSETS: Readonly<{ html: string; js: string; css: string }> = Object.freeze({
  html,
  js,
  css,
});
