/// <reference lib="dom" />
/**
 * The web client in a real browser: Debian's Chromium driven headless by
 * puppeteer-core, against a real server with `--http` on 127.0.0.1. Pages
 * chat with each other and with jim's client core over TCP, survive a server
 * restart, show refusals, refuse foreign origins and render XSS as text.
 * Screenshots go to tests/screenshots/ (git-ignored).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ClientCore } from "../lib/client/client_core.ts";
import type { JimServer, ServeOptions } from "../lib/server/serve.ts";
import {
  auth,
  guest,
  now,
  type Obj,
  RawClient,
  register,
  startServer,
  tempDir,
} from "./_helpers.ts";
import { makeCertificates } from "./_tls.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox", // required as root
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];
const SHOTS = new URL("./screenshots/", import.meta.url);
const WAIT_MS = 10_000;

/** Runs `fn` with a fresh headless browser, closed (and its profile removed) whatever happens. */
async function withBrowser(
  fn: (browser: Browser) => Promise<void>,
  extraArgs: string[] = [],
): Promise<void> {
  const userDataDir = await Deno.makeTempDir({ prefix: "jim_chromium_" });
  let browser: Browser | undefined;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      pipe: true,
      userDataDir,
      args: [...ARGS, ...extraArgs],
    });
    await fn(browser);
  } finally {
    await browser?.close();
    await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  }
}

/** A page that records console errors and uncaught exceptions. */
async function openPage(browser: Browser, url: string, errors: string[] = []): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.setViewport({ width: 960, height: 600 });
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  await Deno.writeFile(new URL(`${name}.png`, SHOTS), await page.screenshot());
}

function withHttp(options: ServeOptions = {}): Promise<JimServer> {
  return startServer({ http: { hostname: "127.0.0.1", port: 0 }, ...options });
}

function pageUrl(server: JimServer): string {
  return `http://127.0.0.1:${server.http!.port}/`;
}

/**
 * Clicks through the DOM. Puppeteer's own click waits for the page to paint,
 * which a page that is not the front tab never does.
 */
async function click(page: Page, selector: string): Promise<void> {
  await page.$eval(selector, (e) => (e as HTMLElement).click());
}

/** Waits until `fn` is true in the page, polling on a timer (not on frames, see click). */
async function until<A extends unknown[]>(
  page: Page,
  fn: (...args: A) => boolean,
  ...args: A
): Promise<void> {
  // deno-lint-ignore no-explicit-any
  await page.waitForFunction(fn as any, { polling: 50 }, ...args);
}

/** Whether `selector` matches an element, for {@linkcode until}. */
function exists(selector: string): boolean {
  return document.querySelector(selector) !== null;
}

/** Signs in through the form; resolves once the chat shows. */
async function signIn(page: Page, name: string, mode = "guest", password = ""): Promise<void> {
  await page.type("#name", name);
  if (password) await page.type("#password", password);
  await click(page, `#${mode}`);
  await until(page, exists, "#chat:not([hidden])");
}

/** Types a line into the message box and sends it with Enter. */
async function say(page: Page, text: string): Promise<void> {
  await page.focus("#input");
  await page.type("#input", text);
  await page.keyboard.press("Enter");
}

/** Waits until the message view holds a line whose text is `text`. */
async function seeLine(page: Page, text: string): Promise<void> {
  await until(
    page,
    (t: string) =>
      [...document.querySelectorAll("#messages .text")].some((e) => e.textContent === t),
    text,
  );
}

/** The conversation list as "name:unread" entries. */
function conversations(page: Page): Promise<string[]> {
  return page.$$eval(
    "#conversations button",
    (buttons) =>
      buttons.map((b) =>
        `${b.querySelector(".name")?.textContent}:${b.querySelector(".unread")?.textContent ?? 0}`
      ),
  );
}

async function openConversation(page: Page, name: string): Promise<void> {
  await until(page, exists, `#conversations button[data-name="${name}"]`);
  await click(page, `#conversations button[data-name="${name}"]`);
  await until(page, (n: string) => document.querySelector("#title")?.textContent === n, name);
}

/** Resolves with the first line the core shows in `conversation` whose text is `text`. */
function coreLine(core: ClientCore, conversation: string, text: string): Promise<Obj> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no line "${text}" in ${conversation}`)),
      WAIT_MS,
    );
    core.on((e) => {
      if (e.type === "line" && e.conversation === conversation && e.line.text === text) {
        clearTimeout(timer);
        resolve(e.line);
      }
    });
  });
}

Deno.test("web: two pages and jim's client core chat directly and in a room", async () => {
  await using server = await withHttp();
  const core = new ClientCore({ host: "127.0.0.1", port: server.port, user: "tom" });
  await core.start();
  try {
    await withBrowser(async (browser) => {
      const errors: string[] = [];
      const amy = await openPage(browser, pageUrl(server), errors);
      const ben = await openPage(browser, pageUrl(server), errors);
      await signIn(amy, "amy");
      await signIn(ben, "ben");
      assertEquals(await amy.$eval("#me", (e) => e.textContent), "amy (guest)");
      assertEquals(await amy.$eval("#state", (e) => e.textContent), "online");

      // Direct, page to page: an unread count until the conversation is opened.
      await say(amy, "/msg ben hello ben");
      await until(ben, exists, '#conversations button[data-name="amy"] .unread');
      assertEquals((await conversations(ben)).includes("amy:1"), true);
      await openConversation(ben, "amy");
      await seeLine(ben, "hello ben");
      assertEquals((await conversations(ben)).includes("amy:0"), true);

      // Direct, page to the terminal core and back.
      const toTom = coreLine(core, "ben", "hi tom, from a browser");
      await say(ben, "/msg tom hi tom, from a browser");
      await toTom;
      await core.sendMessage("amy", "hi amy, from a terminal");
      await openConversation(amy, "tom");
      await seeLine(amy, "hi amy, from a terminal");

      // A room with all three.
      await amy.type("#room", "#lobby");
      await amy.keyboard.press("Enter");
      await until(amy, () => document.querySelector("#title")?.textContent === "#lobby");
      await say(ben, "/join #lobby");
      await until(ben, () => document.querySelector("#title")?.textContent === "#lobby");
      await core.join("#lobby");
      const inRoom = coreLine(core, "#lobby", "hello room");
      await say(amy, "hello room");
      await seeLine(ben, "hello room");
      await inRoom;
      await core.sendMessage("#lobby", "terminal here");
      await seeLine(amy, "terminal here");
      await seeLine(ben, "terminal here");
      // Sender colours: each name has its colour class, the same on every page.
      const colour = (p: Page) =>
        p.$$eval(
          "#messages .from",
          (es) => es.filter((e) => e.textContent === "tom").map((e) => e.className),
        );
      assertMatch((await colour(amy))[0]!, /^from c\d+$/);
      assertEquals(await colour(amy), await colour(ben));
      // Time stamps.
      const stamp = await amy.$eval("#messages li:last-child time", (e) => e.textContent);
      assertMatch(stamp ?? "", /^\d\d:\d\d$/);

      await click(amy, "#who");
      await until(
        amy,
        () =>
          [...document.querySelectorAll("#messages .text")].some((e) =>
            /amy/.test(e.textContent ?? "") && /ben/.test(e.textContent ?? "") &&
            /tom/.test(e.textContent ?? "")
          ),
      );
      await say(ben, "/status at lunch");
      await core.sendMessage("amy", "lunch at noon?");
      await until(amy, exists, '#conversations button[data-name="tom"] .unread');
      assertEquals((await conversations(amy)).includes("tom:1"), true);
      await shot(amy, "chat");
      await amy.setViewport({ width: 390, height: 740 });
      await shot(amy, "chat-phone");
      // An own message stays marked until the server answers: refused here (no such user).
      await say(amy, "/msg ghost are you there?");
      await openConversation(amy, "ghost");
      await until(amy, exists, "#messages li.own.refused .delivery");
      assertEquals(
        await amy.$eval("#messages li.own.refused", (li) => [
          li.querySelector(".text")?.textContent,
          li.querySelector(".delivery")?.textContent,
        ]),
        ["are you there?", "not sent"],
      );
      assertEquals(await amy.$$eval("#messages li.own.pending", (l) => l.length), 0);
      // A conversation button keeps the keyboard focus while the list is redrawn.
      await amy.focus('#conversations button[data-name="ben"]');
      await core.sendMessage("amy", "focus check");
      await until(
        amy,
        () =>
          document.querySelector('#conversations button[data-name="tom"] .unread')?.textContent ===
            "2",
      );
      assertEquals(
        await amy.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.name),
        "ben",
      );
      // Keyboard: Alt-1 goes to the server window.
      await amy.keyboard.down("Alt");
      await amy.keyboard.press("1");
      await amy.keyboard.up("Alt");
      await until(amy, () => document.querySelector("#title")?.textContent === "Server");
      assertEquals(errors, []);
    });
  } finally {
    await core.quit();
  }
});

Deno.test("web: a wrong password shows the server's refusal on the sign-in form", async () => {
  await using server = await withHttp();
  await register(server.port, "walt", "right password");
  await withBrowser(async (browser) => {
    const page = await openPage(browser, pageUrl(server));
    await page.type("#name", "walt");
    await page.type("#password", "wrong password");
    await click(page, "#login");
    await until(page, () => document.querySelector("#signin-error")?.textContent !== "");
    const text = await page.$eval("#signin-error", (e) => e.textContent ?? "");
    assertMatch(text, /^Refused: .*wrong account name or password/);
    assertEquals(await page.$eval("#chat", (e) => (e as HTMLElement).hidden), true);
    await shot(page, "wrong-password");
    // The right one then works on the same page.
    await page.$eval("#password", (e) => (e as HTMLInputElement).value = "");
    // Enter in the password box logs in (not "Join as guest", the form's first button).
    await page.type("#password", "right password");
    await page.keyboard.press("Enter");
    await until(page, exists, "#chat:not([hidden])");
    assertEquals(await page.$eval("#me", (e) => e.textContent), "walt");
  });
});

Deno.test("web: a page from a foreign origin cannot open the WebSocket; a listed origin can", async () => {
  // The "foreign" site: another origin (another port) whose page tries /jim.
  let jimPort = 0;
  const foreign = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    new Response(
      `<!doctype html><p id="out">waiting</p><script>
      const ws = new WebSocket("ws://127.0.0.1:${jimPort}/jim");
      ws.onopen = () => { document.getElementById("out").textContent = "open"; };
      ws.onclose = (e) => { if (document.getElementById("out").textContent === "waiting")
        document.getElementById("out").textContent = "refused " + e.code; };
      </script>`,
      { headers: { "content-type": "text/html" } },
    ));
  const foreignOrigin = `http://127.0.0.1:${foreign.addr.port}`;
  const logs: string[] = [];
  try {
    await using server = await withHttp({ log: (l) => logs.push(l) });
    await using listed = await withHttp({ httpOrigins: [foreignOrigin] });
    await withBrowser(async (browser) => {
      jimPort = server.http!.port;
      const page = await openPage(browser, foreignOrigin + "/");
      await until(page, () => document.querySelector("#out")?.textContent !== "waiting");
      assertEquals(await page.$eval("#out", (e) => e.textContent), "refused 1006");
      assertEquals(server.connections, 0);
      assert(logs.some((l) => l.includes(`origin ${foreignOrigin} not allowed`)), logs.join("\n"));
      jimPort = listed.http!.port;
      await page.reload();
      await until(page, () => document.querySelector("#out")?.textContent !== "waiting");
      assertEquals(await page.$eval("#out", (e) => e.textContent), "open");
    });
  } finally {
    await foreign.shutdown();
  }
});

Deno.test("web: <script>, <img onerror> and javascript: payloads render as text", async () => {
  await using server = await withHttp();
  await withBrowser(async (browser) => {
    const amy = await openPage(browser, pageUrl(server));
    const ben = await openPage(browser, pageUrl(server));
    let dialogs = 0;
    ben.on("dialog", (d) => {
      dialogs++;
      void d.dismiss();
    });
    await signIn(amy, "amy");
    await signIn(ben, "ben");
    const payloads = [
      "<script>window.pwned = 1; alert(1)</script>",
      '<img src=x onerror="window.pwned = 2; alert(2)">',
      "javascript:window.pwned=3;alert(3)",
      '<a href="javascript:alert(4)">click me</a>',
    ];
    for (const p of payloads) await say(amy, `/msg ben ${p}`);
    await openConversation(ben, "amy");
    for (const p of payloads) await seeLine(ben, p);
    const found = await ben.$eval("#messages", (m) => ({
      scripts: m.querySelectorAll("script").length,
      imgs: m.querySelectorAll("img").length,
      links: m.querySelectorAll("a").length,
      pwned: (globalThis as unknown as { pwned?: number }).pwned ?? null,
    }));
    assertEquals(found, { scripts: 0, imgs: 0, links: 0, pwned: null });
    assertEquals(dialogs, 0);
    await shot(ben, "xss-as-text");
  });
});

Deno.test("web: a page survives a server restart, re-joins its room and sends its queued message", async () => {
  await using dir = await tempDir();
  const dbPath = `${dir.path}/jim.db`;
  let server = await withHttp({ dbPath });
  const ports = { tcp: server.port, http: server.http!.port };
  try {
    await register(server.port, "rita");
    await register(server.port, "tess");
    await withBrowser(async (browser) => {
      const page = await openPage(browser, pageUrl(server));
      await signIn(page, "rita", "login", "correct horse");
      await say(page, "/join #ops");
      await until(page, () => document.querySelector("#title")?.textContent === "#ops");
      // A guest's rooms end with its connection: only re-joining brings it back.
      const guestPage = await openPage(browser, pageUrl(server));
      await signIn(guestPage, "gus");
      await say(guestPage, "/join #ops");
      await until(guestPage, () => document.querySelector("#title")?.textContent === "#ops");
      await server.shutdown();
      await until(
        page,
        () => document.querySelector("#state")?.getAttribute("data-state") === "reconnecting",
      );
      await say(page, "/msg tess written while the server was away");
      await until(page, () => /1 queued/.test(document.querySelector("#state")?.textContent ?? ""));
      await shot(page, "reconnecting");
      server = await startServer({
        dbPath,
        port: ports.tcp,
        http: { hostname: "127.0.0.1", port: ports.http },
      });
      await until(page, () => document.querySelector("#state")?.textContent === "online");
      await until(guestPage, () => document.querySelector("#state")?.textContent === "online");
      // Sent once back: tess is offline, so the server keeps it for her (202).
      await openConversation(page, "tess");
      await seeLine(page, "tess is offline; the message will be delivered when they log in");
      await using tess = await RawClient.connect(server.port);
      assertEquals((await tess.request(auth("tess", "correct horse"))).response, 200);
      const m = await tess.message();
      assertEquals([m.from, m.message], ["rita", "written while the server was away"]);
      // And both pages are back in #ops: the guest's page re-joined it (its
      // join went out as it came online; each answer here is a round trip).
      const deadline = Date.now() + 5000;
      let who = await tess.request({ action: "who", time: 1, target: "#ops" });
      while (who.users?.length !== 2 && Date.now() < deadline) {
        who = await tess.request({ action: "who", time: 1, target: "#ops" });
      }
      assertEquals(who.users.sort(), ["gus", "rita"]);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("web: messages still queued when the user quits are reported as not sent", async () => {
  const server = await withHttp();
  try {
    await withBrowser(async (browser) => {
      const page = await openPage(browser, pageUrl(server));
      await signIn(page, "quinn");
      await server.shutdown();
      await until(
        page,
        () => document.querySelector("#state")?.getAttribute("data-state") === "reconnecting",
      );
      await say(page, "/msg nobody lost in transit");
      await until(page, () => /1 queued/.test(document.querySelector("#state")?.textContent ?? ""));
      await click(page, "#quit");
      await until(page, exists, "#chat[hidden]");
      assertEquals(
        await page.$eval("#signin-error", (e) => e.textContent),
        "Not sent (client quit): lost in transit",
      );
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("web: over HTTPS (--tls-cert) the page connects by wss:// and chats with a TCP client", async () => {
  await using certs = await makeCertificates();
  await using server = await withHttp({
    tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
  });
  await using tcp = await guest(server.port, "tcp_tom");
  // The test CA is not in Chromium's store; TLS is still spoken, only the
  // chain is not judged (the Deno tests verify it against the CA).
  await withBrowser(async (browser) => {
    const errors: string[] = [];
    const page = await openPage(browser, `https://127.0.0.1:${server.http!.port}/`, errors);
    assertEquals(await page.evaluate(() => location.protocol), "https:");
    await signIn(page, "amy");
    await say(page, "/msg tcp_tom hello over wss");
    assertEquals((await tcp.message()).message, "hello over wss");
    await tcp.request({ action: "msg", time: now(), to: "amy", message: "back over wss" });
    await openConversation(page, "tcp_tom");
    await seeLine(page, "back over wss");
    assertEquals(errors, []);
    // A renewed certificate restarts the HTTPS listener, which closes the
    // page's socket: the page reconnects by itself and carries on.
    await certs.renew();
    await server.reloadTls();
    await say(page, "after the reload");
    assertEquals((await tcp.message(WAIT_MS)).message, "after the reload");
    await until(page, () => document.querySelector("#state")?.textContent === "online");
  }, ["--ignore-certificate-errors"]);
});
