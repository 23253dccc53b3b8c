/**
 * Where byte-stream connections come from: plain TCP and TLS both go through
 * this seam. `serve.ts` runs one accept loop per {@linkcode Listener} and
 * wraps each socket in a `StreamTransport` (transport.ts), the same for both.
 *
 * @module
 */

/** A source of sockets. */
export interface Listener {
  /** What it speaks, for logs: "tcp", "tls". */
  readonly kind: string;
  /** The address and port it listens on. */
  readonly addr: Deno.NetAddr;
  /** The next socket; rejects once closed (and on errors such as EMFILE, after which it may be called again). */
  accept(): Promise<Deno.Conn>;
  close(): void;
}

/** Where to listen. */
export interface ListenAddress {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
}

/** A plain TCP listener. */
export function listenTcp(address: ListenAddress): Listener {
  const inner = Deno.listen({ ...address, transport: "tcp" });
  return {
    kind: "tcp",
    addr: inner.addr as Deno.NetAddr,
    accept: () => inner.accept(),
    close: () => inner.close(),
  };
}

/** Options for {@linkcode TlsListener.listen}. */
export interface TlsListenOptions extends ListenAddress, KeyPairFiles {}

/** Where a certificate and its key are read from. */
export interface KeyPairFiles {
  /** PEM certificate chain file, read at start and on each reload. */
  certFile: string;
  /** PEM private key file, read with the certificate. */
  keyFile: string;
}

/** Reads a certificate and key, with a message that names the file that failed. */
export function readKeyPair(options: KeyPairFiles): { cert: string; key: string } {
  function read(path: string, what: string): string {
    try {
      return Deno.readTextFileSync(path);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : error instanceof Error
        ? error.message
        : String(error);
      throw new Error(`Cannot read TLS ${what} ${path}: ${reason}`);
    }
  }
  return { cert: read(options.certFile, "certificate"), key: read(options.keyFile, "key") };
}

/**
 * Checks that a certificate and key go together on a throwaway listener, so
 * that a reload with bad files can leave the old ones serving.
 *
 * @throws {Error} "Cannot use TLS certificate PATH with key PATH: …"
 */
export function checkKeyPair(files: KeyPairFiles, pair: { cert: string; key: string }): void {
  try {
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...pair }).close();
  } catch (error) {
    throw new Error(
      `Cannot use TLS certificate ${files.certFile} with key ${files.keyFile}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}

/** Listens again on a port just closed; the socket may take a moment to be let go. */
async function listenAgain(options: Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem) {
  for (let attempt = 0;; attempt++) {
    try {
      return Deno.listenTls(options);
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/**
 * A TLS listener (`Deno.listenTls`) whose certificate can be replaced while
 * it runs: {@linkcode TlsListener.reload} reads the files again, checks them,
 * and re-opens the listener on the same port with them. Connections already
 * open keep their session; a client connecting in the moment of the swap
 * may be refused and retries.
 */
export class TlsListener implements Listener {
  readonly kind = "tls";
  readonly #options: TlsListenOptions;
  #inner: Deno.TlsListener;
  #closed = false;
  /** The accept in progress, if any: the old socket is let go only once it has ended. */
  #accepting: Promise<unknown> = Promise.resolve();
  /** Set while a reload swaps the listener; accept waits on it. */
  #swapping: Promise<void> | null = null;
  readonly addr: Deno.NetAddr;

  private constructor(options: TlsListenOptions, inner: Deno.TlsListener) {
    this.#options = options;
    this.#inner = inner;
    this.addr = inner.addr as Deno.NetAddr;
  }

  /**
   * Reads the certificate and key and listens.
   *
   * @throws {Error} "Cannot read TLS certificate PATH: …", "Cannot use TLS certificate PATH: …"
   */
  static listen(options: TlsListenOptions): TlsListener {
    const pair = readKeyPair(options);
    let inner: Deno.TlsListener;
    try {
      inner = Deno.listenTls({ hostname: options.hostname, port: options.port, ...pair });
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.AddrNotAvailable) {
        throw error;
      }
      throw new Error(
        `Cannot use TLS certificate ${options.certFile} with key ${options.keyFile}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    return new TlsListener(options, inner);
  }

  async accept(): Promise<Deno.Conn> {
    while (true) {
      const inner = this.#inner;
      try {
        const accepting = inner.accept();
        this.#accepting = accepting.catch(() => {});
        return await accepting;
      } catch (error) {
        // Closed by a reload: wait on the new listener instead.
        if (this.#swapping && !this.#closed) {
          await this.#swapping;
          if (!this.#closed) continue;
        }
        throw error;
      }
    }
  }

  /**
   * Reads the certificate and key again and serves new connections with them.
   * When they cannot be read or used, it rejects ("…; keeping the old one")
   * and the old ones stay in use; when the port cannot be listened on again,
   * it rejects and the listener is closed.
   */
  async reload(): Promise<void> {
    if (this.#closed || this.#swapping) return;
    let pair: { cert: string; key: string };
    try {
      pair = readKeyPair(this.#options);
      checkKeyPair(this.#options, pair);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : error}; keeping the old one`);
    }
    let swapped!: () => void;
    this.#swapping = new Promise((resolve) => swapped = resolve);
    const address = { hostname: this.addr.hostname, port: this.addr.port };
    try {
      this.#inner.close();
      await this.#accepting;
      this.#inner = await listenAgain({ ...address, ...pair });
    } catch (error) {
      this.#closed = true;
      throw new Error(
        `Cannot listen for TLS on ${address.hostname}:${address.port} again: ${
          error instanceof Error ? error.message : error
        }`,
      );
    } finally {
      this.#swapping = null;
      swapped();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inner.close();
  }
}
