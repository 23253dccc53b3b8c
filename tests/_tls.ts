/**
 * Throwaway TLS material made with `openssl` in a temp dir: a CA, and a
 * server certificate it signed for one subject alternative name, by default
 * `IP:127.0.0.1` (tests may only reach 127.0.0.1; a certificate for
 * `DNS:jim.example` then makes 127.0.0.1 a wrong host name).
 *
 * @module
 */

/** Paths of the files {@linkcode makeCertificates} wrote. */
export interface TestCertificates extends AsyncDisposable {
  dir: string;
  /** The CA certificate a client trusts (`--ca`). */
  caFile: string;
  /** The server's certificate chain and key (`--tls-cert`, `--tls-key`). */
  certFile: string;
  keyFile: string;
  /** The CA certificate's text. */
  ca: string;
  /** Signs a new server certificate for `san` into `certFile`/`keyFile` (a renewal). */
  renew(san?: string): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** Makes a CA and a server certificate for `san`, e.g. "IP:127.0.0.1" or "DNS:jim.example". */
export async function makeCertificates(san = "IP:127.0.0.1"): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "jim_tls_" });
  await openssl(dir, [
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    `/CN=jim test CA ${crypto.randomUUID()}`,
  ]);
  async function renew(name = san): Promise<void> {
    await openssl(dir, [
      "req",
      ...EC,
      "-keyout",
      "server.key.new",
      "-out",
      "server.csr",
      "-subj",
      `/CN=${name.replace(/^[A-Z]+:/, "")}`,
    ]);
    Deno.writeTextFileSync(
      `${dir}/ext.cnf`,
      `subjectAltName=${name}\nbasicConstraints=CA:FALSE\n` +
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt.new",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ]);
    // Both files change at once, as a renewal tool would leave them.
    Deno.renameSync(`${dir}/server.key.new`, `${dir}/server.key`);
    Deno.renameSync(`${dir}/server.crt.new`, `${dir}/server.crt`);
  }
  await renew();
  return {
    dir,
    caFile: `${dir}/ca.crt`,
    certFile: `${dir}/server.crt`,
    keyFile: `${dir}/server.key`,
    ca: Deno.readTextFileSync(`${dir}/ca.crt`),
    renew,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
